//! The skeleton's command line and configuration, on a service that has nothing of its own
//! but one flag.

use clap::Args;
use sea_orm::DatabaseConnection;

use super::*;

#[derive(Debug, Clone, Args)]
struct WidgetArgs {
    /// Widgets to make.
    #[arg(long, env = "WIDGETS", default_value = "3")]
    widgets: String,
}

#[derive(Debug)]
struct Widgets;

#[derive(Debug)]
struct NoMigrations;

#[crate::db::async_trait]
impl MigratorTrait for NoMigrations {
    fn migrations() -> Vec<Box<dyn sea_orm_migration::MigrationTrait>> {
        Vec::new()
    }
}

impl Service for Widgets {
    const DEFAULTS: ServiceDefaults =
        ServiceDefaults { name: "widgets", version: "9.9.9", grpc_port: 1, admin_port: 2 };
    const ABOUT: &'static str = "widgets: makes widgets.";
    type Args = WidgetArgs;
    type Command = NoCommand;
    type Settings = u32;
    type Migrator = NoMigrations;

    fn settings(args: &WidgetArgs, problems: &mut Problems) -> Option<u32> {
        problems.check("WIDGETS (--widgets)", crate::config::parse_count(&args.widgets, 1, 10))
    }

    async fn build(_: Setup<'_, u32>) -> anyhow::Result<()> {
        Ok(())
    }

    async fn run_command(command: NoCommand, _: &Config<u32>, _: &DatabaseConnection) -> anyhow::Result<()> {
        match command {}
    }
}

#[test]
fn serve_is_the_default_and_migrate_comes_from_the_kit() {
    assert!(parse::<Widgets>(["widgets"]).unwrap().command.is_none());
    assert!(matches!(parse::<Widgets>(["widgets", "migrate"]).unwrap().command, Some(Command::Migrate)));
    assert!(matches!(parse::<Widgets>(["widgets", "serve"]).unwrap().command, Some(Command::Serve)));
    assert!(parse::<Widgets>(["widgets", "frobnicate"]).is_err());
}

#[test]
fn the_command_line_is_named_and_described_by_the_service() {
    let help = command::<Widgets>().render_long_help().to_string();
    assert!(help.contains("widgets: makes widgets."), "{help}");
    assert!(help.contains("--widgets") && help.contains("--database-url") && help.contains("--nats-url"), "{help}");
    assert_eq!(command::<Widgets>().get_version(), Some("9.9.9"));
}

#[test]
fn global_flags_follow_a_subcommand() {
    let cli = parse::<Widgets>(["widgets", "migrate", "--database-url", "sqlite://x.db"]).unwrap();
    assert_eq!(cli.database.database_url.as_deref(), Some("sqlite://x.db"));
}

#[test]
fn the_services_own_problems_are_listed_with_the_kits() {
    let cli = parse::<Widgets>(["widgets", "--widgets", "0", "--grpc-addr", "nowhere"]).unwrap();
    let error = config::<Widgets>(&cli).unwrap_err().to_string();
    assert!(error.contains("WIDGETS") && error.contains("GRPC_ADDR"), "{error}");

    let config = config::<Widgets>(&parse::<Widgets>(["widgets", "--widgets", "7"]).unwrap()).unwrap();
    assert_eq!(config.service, 7);
    assert_eq!(config.common.service, "widgets");
    assert!(config.database.url.expose().ends_with("widgets.db?mode=rwc"));
}
