use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "payments")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub order_id: String,
    pub user_id: String,
    pub amount_currency: String,
    pub amount_units: i64,
    pub amount_nanos: i32,
    /// One of COMPLETED, FAILED, REFUNDED.
    pub status: String,
    pub failure_code: String,
    pub failure_message: String,
    pub provider_reference: String,
    pub refund_reference: String,
    pub refund_reason: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
