use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "shipments")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub order_id: String,
    pub user_id: String,
    /// One of PENDING, DISPATCHED, DELIVERED, CANCELLED.
    pub status: String,
    pub carrier: String,
    pub tracking_number: String,
    /// The address as JSON.
    pub address: String,
    /// The items as JSON.
    pub items: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub due_at: Option<DateTimeUtc>,
    pub dispatched_at: Option<DateTimeUtc>,
    pub delivered_at: Option<DateTimeUtc>,
    pub cancelled_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
