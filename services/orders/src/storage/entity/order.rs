use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "orders")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub user_id: String,
    pub idempotency_key: String,
    /// The customer-facing status (see `domain::order::Status`), kept for filtering.
    pub status: String,
    /// The saga's step (see `domain::saga::Step`).
    pub step: String,
    /// Why it is cancelled (empty until it is).
    pub reason: String,
    pub cancellation_message: String,
    pub currency: String,
    pub subtotal_units: i64,
    pub subtotal_nanos: i32,
    pub total_units: i64,
    pub total_nanos: i32,
    /// The address as JSON.
    pub shipping_address: String,
    pub payment_id: String,
    pub payment_token: String,
    pub payment_refunded: bool,
    pub version: i64,
    pub deadline_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
