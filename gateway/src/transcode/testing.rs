//! The real contracts' descriptor pool and route table, shared by the tests, plus a test-only
//! message with the field shapes the contracts don't use yet (nested query messages, bytes,
//! floats, wrappers, oneofs, maps) layered on top of the same pool.

use std::sync::LazyLock;

use prost_reflect::DescriptorPool;
use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{DescriptorProto, FieldDescriptorProto, FileDescriptorProto, MessageOptions, OneofDescriptorProto};

use super::{BodyMapping, PathTemplate, Route, RouteMatch, RouteTable};

static POOL: LazyLock<DescriptorPool> = LazyLock::new(|| {
    DescriptorPool::decode(mercato::FILE_DESCRIPTOR_SET).expect("the embedded descriptor set decodes")
});

static TABLE: LazyLock<RouteTable> =
    LazyLock::new(|| RouteTable::from_pool(&POOL, |_| true).expect("the real contracts give a valid route table"));

static KITCHEN_POOL: LazyLock<DescriptorPool> = LazyLock::new(|| {
    let mut pool = pool();
    pool.add_file_descriptor_proto(wrappers_file()).expect("wrappers.proto");
    pool.add_file_descriptor_proto(kitchen_file()).expect("kitchen.proto");
    pool
});

pub(crate) fn pool() -> DescriptorPool {
    POOL.clone()
}

pub(crate) fn table() -> &'static RouteTable {
    &TABLE
}

/// A route of the test-only `gwtest.KitchenService.Cook`, whose request and response are both
/// `gwtest.Kitchen`.
pub(crate) fn kitchen_route(method: http::Method, template: &str, body: BodyMapping) -> Route {
    let service = KITCHEN_POOL.get_service_by_name("gwtest.KitchenService").expect("KitchenService");
    let cook = service.methods().next().expect("Cook");
    Route {
        label: format!("{method} {template}").into(),
        http_method: method,
        template: PathTemplate::parse(template).expect("template"),
        raw_template: template.to_owned(),
        body,
        response_body: None,
        grpc_path: super::grpc_path(&cook).expect("path"),
        method: cook,
        server_streaming: false,
        client_streaming: false,
    }
}

/// Matches `path` against `route` alone, as `RouteTable::find` would once it chose the route.
pub(crate) fn matched<'a>(route: &'a Route, path: &str) -> RouteMatch<'a> {
    RouteMatch { route, bindings: route.template.match_path(path).expect("the path fits the template") }
}

fn field(name: &str, number: i32, ty: Type, type_name: Option<&str>) -> FieldDescriptorProto {
    FieldDescriptorProto {
        name: Some(name.to_owned()),
        number: Some(number),
        label: Some(Label::Optional as i32),
        r#type: Some(ty as i32),
        type_name: type_name.map(str::to_owned),
        json_name: Some(json_name(name)),
        ..Default::default()
    }
}

fn repeated(mut f: FieldDescriptorProto) -> FieldDescriptorProto {
    f.label = Some(Label::Repeated as i32);
    f
}

fn json_name(name: &str) -> String {
    let mut out = String::new();
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

fn message(name: &str, fields: Vec<FieldDescriptorProto>) -> DescriptorProto {
    DescriptorProto { name: Some(name.to_owned()), field: fields, ..Default::default() }
}

fn wrappers_file() -> FileDescriptorProto {
    let wrapper = |name: &str, ty: Type| message(name, vec![field("value", 1, ty, None)]);
    FileDescriptorProto {
        name: Some("google/protobuf/wrappers.proto".to_owned()),
        package: Some("google.protobuf".to_owned()),
        syntax: Some("proto3".to_owned()),
        message_type: vec![
            wrapper("DoubleValue", Type::Double),
            wrapper("FloatValue", Type::Float),
            wrapper("Int64Value", Type::Int64),
            wrapper("UInt64Value", Type::Uint64),
            wrapper("Int32Value", Type::Int32),
            wrapper("UInt32Value", Type::Uint32),
            wrapper("BoolValue", Type::Bool),
            wrapper("StringValue", Type::String),
            wrapper("BytesValue", Type::Bytes),
        ],
        ..Default::default()
    }
}

fn kitchen_file() -> FileDescriptorProto {
    let status = ".mercato.orders.v1.OrderStatus";
    let inner = message("Inner", vec![field("n", 1, Type::Int64, None)]);
    let filter = message(
        "Filter",
        vec![
            field("status", 1, Type::Enum, Some(status)),
            repeated(field("tags", 2, Type::String, None)),
            field("inner", 3, Type::Message, Some(".gwtest.Inner")),
        ],
    );
    let mut left = field("left", 14, Type::String, None);
    left.oneof_index = Some(0);
    let mut right = field("right", 15, Type::String, None);
    right.oneof_index = Some(0);
    let mut kitchen = message(
        "Kitchen",
        vec![
            field("id", 1, Type::String, None),
            field("filter", 2, Type::Message, Some(".gwtest.Filter")),
            repeated(field("numbers", 3, Type::Int32, None)),
            field("blob", 4, Type::Bytes, None),
            field("ratio", 5, Type::Double, None),
            field("small", 6, Type::Float, None),
            field("flag", 7, Type::Bool, None),
            field("big", 8, Type::Uint64, None),
            field("at", 9, Type::Message, Some(".google.protobuf.Timestamp")),
            field("wait", 10, Type::Message, Some(".google.protobuf.Duration")),
            field("mask", 11, Type::Message, Some(".google.protobuf.FieldMask")),
            field("maybe", 12, Type::Message, Some(".google.protobuf.Int32Value")),
            field("maybe_flag", 13, Type::Message, Some(".google.protobuf.BoolValue")),
            left,
            right,
            repeated(field("labels", 16, Type::Message, Some(".gwtest.Kitchen.LabelsEntry"))),
            repeated(field("inners", 17, Type::Message, Some(".gwtest.Inner"))),
            field("status", 18, Type::Enum, Some(status)),
            repeated(field("statuses", 19, Type::Enum, Some(status))),
        ],
    );
    kitchen.oneof_decl = vec![OneofDescriptorProto { name: Some("choice".to_owned()), options: None }];
    kitchen.nested_type = vec![DescriptorProto {
        options: Some(MessageOptions { map_entry: Some(true), ..Default::default() }),
        ..message("LabelsEntry", vec![field("key", 1, Type::String, None), field("value", 2, Type::String, None)])
    }];
    FileDescriptorProto {
        name: Some("gwtest/kitchen.proto".to_owned()),
        package: Some("gwtest".to_owned()),
        syntax: Some("proto3".to_owned()),
        dependency: vec![
            "google/protobuf/timestamp.proto".to_owned(),
            "google/protobuf/duration.proto".to_owned(),
            "google/protobuf/field_mask.proto".to_owned(),
            "google/protobuf/wrappers.proto".to_owned(),
            "mercato/orders/v1/orders.proto".to_owned(),
        ],
        message_type: vec![inner, filter, kitchen],
        service: vec![prost_types::ServiceDescriptorProto {
            name: Some("KitchenService".to_owned()),
            method: vec![prost_types::MethodDescriptorProto {
                name: Some("Cook".to_owned()),
                input_type: Some(".gwtest.Kitchen".to_owned()),
                output_type: Some(".gwtest.Kitchen".to_owned()),
                ..Default::default()
            }],
            options: None,
        }],
        ..Default::default()
    }
}
