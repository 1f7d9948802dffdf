use sea_orm::entity::prelude::*;

/// A signing key generated in dev (production loads keys from files instead).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "signing_keys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub kid: String,
    /// base64 of the 32-byte Ed25519 seed.
    pub seed: String,
    pub created_at: DateTimeUtc,
    /// When it stopped signing; published until its last tokens expire.
    pub retired_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
