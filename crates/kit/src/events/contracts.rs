//! Every contract event's subject and ordering key, in one place: publisher and consumers
//! must agree on them, and they are part of the contract as much as the message is.

use mercato::catalog::v1 as catalog;

use super::Event;

impl Event for catalog::StockLevelChanged {
    const SUBJECT: &'static str = "catalog.v1.stock_level_changed";
    const TYPE: &'static str = "mercato.catalog.v1.StockLevelChanged";
    fn aggregate(&self) -> String {
        self.product_id.clone()
    }
}

impl Event for catalog::ProductChanged {
    const SUBJECT: &'static str = "catalog.v1.product_changed";
    const TYPE: &'static str = "mercato.catalog.v1.ProductChanged";
    fn aggregate(&self) -> String {
        self.product.as_ref().map(|p| p.id.clone()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use prost::Name;

    use super::*;

    #[test]
    fn types_are_the_messages_full_names_and_subjects_follow_them() {
        fn check<E: Event + Name>() {
            assert_eq!(E::TYPE, E::full_name());
            let (context, version) = (E::TYPE.split('.').nth(1), E::TYPE.split('.').nth(2));
            assert!(E::SUBJECT.starts_with(&format!("{}.{}.", context.unwrap_or(""), version.unwrap_or(""))), "{}", E::SUBJECT);
        }
        check::<catalog::StockLevelChanged>();
        check::<catalog::ProductChanged>();
    }
}
