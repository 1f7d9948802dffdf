//! notifications' schema, owned by notifications alone.

mod m0001_notifications;

mercato_kit::migrator!(m0001_notifications);
