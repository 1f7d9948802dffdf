//! Products, categories, inventory and stock reservations.
//!
//! The CHECK on inventory is the last line of defence against overselling: whatever the code
//! does, the database refuses `reserved > on_hand` or negative stock.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub(super) struct Migration;

// async_trait rewrites these signatures; spelling out `SchemaManager<'_>` would break them.
#[allow(elided_lifetimes_in_paths)]
#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Categories::Table)
                    .col(string(Categories::Id).primary_key())
                    .col(string(Categories::Name))
                    .col(text(Categories::Description))
                    .col(timestamp_with_time_zone(Categories::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Products::Table)
                    .col(string(Products::Id).primary_key())
                    .col(string_uniq(Products::Sku))
                    .col(string(Products::Name))
                    .col(text(Products::Description))
                    .col(string_len(Products::PriceCurrency, 3))
                    .col(big_integer(Products::PriceUnits))
                    .col(integer(Products::PriceNanos))
                    .col(text(Products::ImageUrl))
                    .col(timestamp_with_time_zone(Products::CreatedAt))
                    .col(timestamp_with_time_zone(Products::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_products_name_id")
                    .table(Products::Table)
                    .col(Products::Name)
                    .col(Products::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ProductCategories::Table)
                    .col(string(ProductCategories::ProductId))
                    .col(string(ProductCategories::CategoryId))
                    .primary_key(Index::create().col(ProductCategories::ProductId).col(ProductCategories::CategoryId))
                    .foreign_key(
                        ForeignKey::create()
                            .from(ProductCategories::Table, ProductCategories::ProductId)
                            .to(Products::Table, Products::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(ProductCategories::Table, ProductCategories::CategoryId)
                            .to(Categories::Table, Categories::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_product_categories_category")
                    .table(ProductCategories::Table)
                    .col(ProductCategories::CategoryId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Inventory::Table)
                    .col(string(Inventory::ProductId).primary_key())
                    .col(big_integer(Inventory::OnHand))
                    .col(big_integer(Inventory::Reserved))
                    .col(timestamp_with_time_zone(Inventory::UpdatedAt))
                    .check(Expr::col(Inventory::OnHand).gte(0))
                    .check(Expr::col(Inventory::Reserved).gte(0))
                    .check(Expr::col(Inventory::Reserved).lte(Expr::col(Inventory::OnHand)))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Inventory::Table, Inventory::ProductId)
                            .to(Products::Table, Products::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Reservations::Table)
                    .col(string(Reservations::Id).primary_key())
                    .col(string(Reservations::OrderId))
                    .col(string(Reservations::Status))
                    .col(text(Reservations::Shortages))
                    .col(timestamp_with_time_zone(Reservations::CreatedAt))
                    .col(timestamp_with_time_zone(Reservations::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ReservationLines::Table)
                    .col(string(ReservationLines::ReservationId))
                    .col(string(ReservationLines::ProductId))
                    .col(integer(ReservationLines::Quantity))
                    .primary_key(Index::create().col(ReservationLines::ReservationId).col(ReservationLines::ProductId))
                    .foreign_key(
                        ForeignKey::create()
                            .from(ReservationLines::Table, ReservationLines::ReservationId)
                            .to(Reservations::Table, Reservations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            ReservationLines::Table.into_iden(),
            Reservations::Table.into_iden(),
            Inventory::Table.into_iden(),
            ProductCategories::Table.into_iden(),
            Products::Table.into_iden(),
            Categories::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).if_exists().to_owned()).await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Categories {
    Table,
    Id,
    Name,
    Description,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Products {
    Table,
    Id,
    Sku,
    Name,
    Description,
    PriceCurrency,
    PriceUnits,
    PriceNanos,
    ImageUrl,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ProductCategories {
    Table,
    ProductId,
    CategoryId,
}

#[derive(DeriveIden)]
enum Inventory {
    Table,
    ProductId,
    OnHand,
    Reserved,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Reservations {
    Table,
    Id,
    OrderId,
    Status,
    Shortages,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ReservationLines {
    Table,
    ReservationId,
    ProductId,
    Quantity,
}
