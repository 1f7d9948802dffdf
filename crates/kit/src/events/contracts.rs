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
    use prost::Message as _;

    use super::*;

    /// Every fully qualified message name in the contracts.
    fn message_names() -> Vec<String> {
        let set = prost_types::FileDescriptorSet::decode(mercato::FILE_DESCRIPTOR_SET).unwrap_or_default();
        set.file
            .iter()
            .flat_map(|file| file.message_type.iter().map(move |m| format!("{}.{}", file.package(), m.name())))
            .collect()
    }

    #[test]
    fn types_are_real_message_names_and_subjects_follow_their_package() {
        let names = message_names();
        fn check<E: Event>(names: &[String]) {
            assert!(names.iter().any(|n| n == E::TYPE), "{} is not a message in proto/", E::TYPE);
            let mut parts = E::TYPE.split('.');
            let (context, version) = (parts.nth(1).unwrap_or(""), parts.next().unwrap_or(""));
            assert!(E::SUBJECT.starts_with(&format!("{context}.{version}.")), "{}", E::SUBJECT);
        }
        check::<catalog::StockLevelChanged>(&names);
        check::<catalog::ProductChanged>(&names);
    }
}
