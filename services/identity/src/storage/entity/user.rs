use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Normalised (trimmed, lower-case).
    #[sea_orm(unique)]
    pub email: String,
    pub display_name: String,
    /// PHC string (argon2id, salt and parameters included).
    pub password_hash: String,
    /// Comma-separated role names.
    pub roles: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl Model {
    pub fn role_list(&self) -> Vec<String> {
        self.roles.split(',').filter(|r| !r.is_empty()).map(str::to_string).collect()
    }
}
