use sea_orm::entity::prelude::*;

// Debug is written out below: a logged or panicking user must not print its password hash.
#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
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

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("display_name", &self.display_name)
            .field("password_hash", &"<redacted>")
            .field("roles", &self.roles)
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .finish()
    }
}

impl Model {
    pub fn role_list(&self) -> Vec<String> {
        self.roles.split(',').filter(|r| !r.is_empty()).map(str::to_string).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_password_hash() {
        let now = chrono::Utc::now();
        let user = Model {
            id: "u1".into(),
            email: "a@example.com".into(),
            display_name: "A".into(),
            password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
            roles: "customer".into(),
            created_at: now,
            updated_at: now,
        };
        let shown = format!("{user:?}");
        assert!(
            !shown.contains("argon2id") && shown.contains("<redacted>") && shown.contains("a@example.com"),
            "{shown}"
        );
    }
}
