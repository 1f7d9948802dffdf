//! shipping's schema, owned by shipping alone.

mod m0001_shipments;

mercato_kit::migrator!(m0001_shipments);
