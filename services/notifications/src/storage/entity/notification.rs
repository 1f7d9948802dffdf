use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "notifications")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub event_id: String,
    pub user_id: String,
    /// ORDER_PLACED, PAYMENT_COMPLETED, … (the contract's kind without its prefix), or WELCOME.
    pub kind: String,
    /// EMAIL.
    pub channel: String,
    pub recipient: String,
    pub subject: String,
    /// The plain-text body.
    pub body: String,
    pub order_id: String,
    /// SENT or FAILED.
    pub status: String,
    pub failure_message: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
