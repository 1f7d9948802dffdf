use std::sync::LazyLock;

use super::*;
use crate::mesh::is_public;
use crate::transcode::BodyMapping;

static POOL: LazyLock<DescriptorPool> =
    LazyLock::new(|| DescriptorPool::decode(mercato::FILE_DESCRIPTOR_SET).expect("the descriptor set decodes"));
static TABLE: LazyLock<RouteTable> =
    LazyLock::new(|| RouteTable::from_pool(&POOL, is_public).expect("the contracts give a route table"));
static DOC: LazyLock<Value> = LazyLock::new(|| document(&TABLE, &POOL));

fn op(method: &str, path: &str) -> &'static Value {
    DOC.pointer(&format!("/paths/{}/{method}", path.replace('~', "~0").replace('/', "~1")))
        .unwrap_or_else(|| panic!("no {method} {path}"))
}

fn schema(name: &str) -> &'static Value {
    DOC["components"]["schemas"].get(name).unwrap_or_else(|| panic!("no schema {name}"))
}

fn param_names(op: &Value, location: &str) -> Vec<String> {
    op["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["in"] == location)
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect()
}

fn refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                out.push(r.clone());
            }
            map.values().for_each(|v| refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[test]
fn is_openapi_3_1_with_info_and_servers() {
    assert_eq!(DOC["openapi"], "3.1.0");
    assert_eq!(DOC["info"]["title"], "mercato");
    assert_eq!(DOC["info"]["version"], env!("CARGO_PKG_VERSION"));
    assert!(DOC["info"]["description"].as_str().unwrap().contains("proto3"));
    assert_eq!(DOC["servers"], json!([{"url": "/"}]));
    assert_eq!(
        DOC["components"]["securitySchemes"]["bearerAuth"]["bearerFormat"], "JWT",
        "{}",
        DOC["components"]["securitySchemes"]
    );
}

#[test]
fn every_route_is_an_operation_with_its_method_path_and_path_parameters() {
    assert!(TABLE.routes().len() >= 30);
    for route in TABLE.routes() {
        let method = route.http_method.as_str().to_ascii_lowercase();
        let op = op(&method, &route.template.openapi_path());
        let service = route.method.parent_service();
        assert_eq!(op["operationId"], format!("{}_{}", service.name(), route.method.name()));
        assert_eq!(op["tags"], json!([service.name()]));
        let want: Vec<String> = route.template.variables().iter().map(|v| v.join(".")).collect();
        assert_eq!(param_names(op, "path"), want, "{method} {}", route.raw_template);
        for p in op["parameters"].as_array().unwrap().iter().filter(|p| p["in"] == "path") {
            assert_eq!(p["required"], true);
        }
        assert!(op["summary"].as_str().is_some_and(|s| !s.is_empty()));
        assert!(op["responses"]["200"]["content"].is_object());
        assert_eq!(op["responses"]["default"]["$ref"], "#/components/responses/Error");
        assert_eq!(op.get("requestBody").is_some(), route.body != BodyMapping::None, "{}", route.raw_template);
    }
    let operations: usize = DOC["paths"].as_object().unwrap().values().map(|i| i.as_object().unwrap().len()).sum();
    assert_eq!(operations, TABLE.routes().len() + 1, "every route, plus the hand-described GET /v1/home");
}

#[test]
fn the_home_aggregate_is_described_with_optional_auth() {
    let home = op("get", "/v1/home");
    assert_eq!(home["security"], json!([{}, {"bearerAuth": []}]));
    let schema = &home["responses"]["200"]["content"]["application/json"]["schema"];
    assert_eq!(schema["properties"]["user"]["$ref"], "#/components/schemas/mercato.identity.v1.User");
    assert_eq!(
        schema["properties"]["featuredProducts"]["items"]["$ref"],
        "#/components/schemas/mercato.catalog.v1.Product"
    );
    assert!(DOC["components"]["schemas"]["mercato.catalog.v1.Category"].is_object());
}

#[test]
fn operation_ids_are_unique() {
    let mut seen = HashSet::new();
    for item in DOC["paths"].as_object().unwrap().values() {
        for op in item.as_object().unwrap().values() {
            assert!(seen.insert(op["operationId"].as_str().unwrap().to_owned()), "{}", op["operationId"]);
        }
    }
    let mut ids = HashSet::new();
    assert_eq!(unique_id(&mut ids, "A_B"), "A_B");
    assert_eq!(unique_id(&mut ids, "A_B"), "A_B_2");
    assert_eq!(unique_id(&mut ids, "A_B"), "A_B_3");
}

#[test]
fn every_ref_resolves() {
    let mut all = Vec::new();
    refs(&DOC, &mut all);
    assert!(all.len() > 100);
    for r in all {
        let pointer = r.strip_prefix('#').unwrap_or_else(|| panic!("external ref {r}"));
        assert!(DOC.pointer(pointer).is_some(), "{r} does not resolve");
    }
}

#[test]
fn same_named_messages_of_different_packages_are_distinct_schemas() {
    let identity = schema("mercato.identity.v1.Address");
    let orders = schema("mercato.orders.v1.Address");
    let shipping = schema("mercato.shipping.v1.Address");
    assert_eq!(identity["properties"]["id"]["readOnly"], true);
    assert!(identity["properties"].get("isDefault").is_some());
    assert!(orders["properties"].get("isDefault").is_none());
    assert_ne!(orders, shipping);
    assert_eq!(
        schema("mercato.orders.v1.Order")["properties"]["shippingAddress"]["$ref"],
        "#/components/schemas/mercato.orders.v1.Address"
    );
    assert_eq!(
        schema("mercato.shipping.v1.Shipment")["properties"]["address"]["$ref"],
        "#/components/schemas/mercato.shipping.v1.Address"
    );
}

#[test]
fn schemas_follow_the_proto3_json_mapping() {
    let stock = &schema("mercato.catalog.v1.StockLevel")["properties"];
    assert_eq!(stock["onHand"]["type"], "string");
    assert_eq!(stock["onHand"]["format"], "int64");
    assert_eq!(schema("google.type.Money")["properties"]["units"]["format"], "int64");
    assert_eq!(schema("google.type.Money")["properties"]["nanos"]["type"], "integer");
    let product = &schema("mercato.catalog.v1.Product")["properties"];
    assert_eq!(product["createTime"]["format"], "date-time");
    assert_eq!(product["createTime"]["readOnly"], true);
    assert_eq!(product["categoryIds"]["type"], "array");
    assert!(product.get("category_ids").is_none());
    assert!(schema("mercato.catalog.v1.Product").get("additionalProperties").is_none());
    let status = schema("mercato.orders.v1.OrderStatus");
    assert_eq!(status["type"], "string");
    assert_eq!(status["enum"][3], "ORDER_STATUS_PAID");
    assert!(status["description"].as_str().unwrap().contains("`ORDER_STATUS_PAID`: The payment is completed"));
    let rpc = schema(STATUS);
    assert_eq!(rpc["required"], json!(["code", "message", "details"]));
    assert_eq!(rpc["properties"]["details"]["items"]["required"], json!(["@type"]));
}

#[test]
fn comments_become_summaries_and_descriptions() {
    let get = op("get", "/v1/products/{id}");
    assert_eq!(get["summary"], "Returns one product by id.");
    assert_eq!(get["parameters"][0]["description"], "Id of the product.");
    let login = op("post", "/v1/sessions");
    assert_eq!(login["summary"], "Exchanges an email and password for a new session.");
    assert!(login["description"].as_str().unwrap().contains("cannot be probed"));
    let tags = DOC["tags"].as_array().unwrap();
    assert!(tags.iter().any(|t| t["name"] == "CatalogService" && t["description"].is_string()));
    assert_eq!(schema("mercato.catalog.v1.Product")["description"], "A product for sale.");
}

#[test]
fn query_parameters_are_the_fields_neither_path_nor_body_sets() {
    assert_eq!(param_names(op("get", "/v1/products"), "query"), ["query", "category", "pageSize", "pageToken"]);
    assert!(param_names(op("get", "/v1/products/{id}"), "query").is_empty());
    let list = op("get", "/v1/orders");
    assert_eq!(list["parameters"][0]["schema"]["$ref"], "#/components/schemas/mercato.orders.v1.OrderStatus");
    // body: "product" leaves the mask to the query string, never the product's fields.
    assert_eq!(param_names(op("patch", "/v1/products/{id}"), "query"), ["updateMask"]);
    // body: "*" takes everything.
    for (method, path) in [("post", "/v1/orders"), ("post", "/v1/orders/{id}:cancel"), ("post", "/v1/sessions")] {
        assert!(param_names(op(method, path), "query").is_empty(), "{path}");
    }
    let last = op("get", "/v1/cart")["parameters"].as_array().unwrap().last().unwrap();
    assert_eq!(last["$ref"], "#/components/parameters/XRequestId");
}

#[test]
fn the_idempotency_key_header_is_offered_where_the_request_takes_a_key() {
    let refs = |method: &str, path: &str| -> Vec<String> {
        op(method, path)["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|p| p["$ref"].as_str())
            .map(String::from)
            .collect()
    };
    assert!(refs("post", "/v1/orders").contains(&"#/components/parameters/IdempotencyKey".to_string()));
    assert!(!refs("post", "/v1/orders/{id}:cancel").contains(&"#/components/parameters/IdempotencyKey".to_string()));
    assert_eq!(DOC["components"]["parameters"]["IdempotencyKey"]["name"], "Idempotency-Key");
}

#[test]
fn request_bodies_are_the_input_less_the_path_and_refuse_unknown_fields() {
    let body = |method: &str, path: &str| op(method, path)["requestBody"].clone();
    let adjust = body("post", "/v1/products/{product_id}:adjustStock");
    let schema = &adjust["content"]["application/json"]["schema"];
    assert_eq!(schema["additionalProperties"], false);
    assert!(schema["properties"].get("productId").is_none());
    assert_eq!(schema["properties"]["delta"]["format"], "int64");
    assert_eq!(schema["required"], json!(["delta"]));

    let create = body("post", "/v1/products");
    assert_eq!(create["required"], true);
    let schema = &create["content"]["application/json"]["schema"];
    assert_eq!(schema["required"], json!(["sku", "name", "price"]));
    assert_eq!(schema["properties"]["id"]["readOnly"], true);
    assert_eq!(schema["additionalProperties"], false);

    // A masked update sends only what changes.
    let update = body("patch", "/v1/products/{id}");
    assert!(update["content"]["application/json"]["schema"].get("required").is_none());
    assert!(op("get", "/v1/products").get("requestBody").is_none());
    let cancel = body("post", "/v1/orders/{id}:cancel");
    assert_eq!(cancel["required"], false);
    assert_eq!(
        cancel["content"]["application/json"]["schema"]["properties"],
        json!({"reason": {
            "type": "string", "description": "Why the user cancels, at most 500 characters; kept as the cancellation message."
        }})
    );
}

#[test]
fn streaming_routes_offer_sse_and_ndjson() {
    for path in ["/v1/products/{product_id}/stock:watch", "/v1/orders/{id}:watch"] {
        let content = op("get", path)["responses"]["200"]["content"].as_object().unwrap();
        let types: Vec<&String> = content.keys().collect();
        assert_eq!(types, ["application/x-ndjson", "text/event-stream"], "{path}");
        let line = &content["application/x-ndjson"]["schema"]["properties"];
        assert_eq!(line["error"]["$ref"], format!("{SCHEMAS}{STATUS}"));
        assert!(line["result"]["$ref"].as_str().unwrap().ends_with("Response"));
    }
    let unary = op("get", "/v1/products")["responses"]["200"]["content"].as_object().unwrap();
    assert_eq!(unary.keys().collect::<Vec<_>>(), ["application/json"]);
}

#[test]
fn security_follows_the_access_table() {
    for item in DOC["paths"].as_object().unwrap().values() {
        for op in item.as_object().unwrap().values() {
            let id = op["operationId"].as_str().unwrap();
            if id == "Gateway_Home" {
                continue; // not an RPC; its optional auth is checked on its own
            }
            let rpc = id.replacen('_', ".", 1);
            let want = if PUBLIC.iter().any(|m| m.ends_with(&rpc)) {
                json!([])
            } else if ADMIN.iter().any(|m| m.ends_with(&rpc)) {
                json!([{"bearerAuth": ["admin"]}])
            } else {
                json!([{"bearerAuth": []}])
            };
            assert_eq!(op["security"], want, "{id}");
        }
    }
    assert_eq!(op("get", "/v1/products")["security"], json!([]));
    assert_eq!(op("get", "/v1/users/me")["security"], json!([{"bearerAuth": []}]));
    assert_eq!(op("post", "/v1/products")["security"], json!([{"bearerAuth": ["admin"]}]));
    // Every name in the table is a real RPC.
    for name in PUBLIC.iter().chain(ADMIN) {
        let (service, method) = name.rsplit_once('.').unwrap();
        let service = POOL.get_service_by_name(service).unwrap();
        assert!(service.methods().any(|m| m.name() == method), "{name}");
    }
}

#[test]
fn output_is_deterministic() {
    let again = document(&TABLE, &POOL);
    assert_eq!(again.to_string(), DOC.to_string());
}

/// Shapes the contracts don't use yet: maps, oneofs, bytes, unsigned and floating numbers,
/// Duration/Any, nested messages in the query string and cycles.
#[test]
fn other_field_shapes() {
    use prost_types::field_descriptor_proto::{Label, Type};
    use prost_types::{DescriptorProto, FieldDescriptorProto, FileDescriptorProto, MessageOptions};

    let field = |name: &str, number: i32, ty: Type, type_name: Option<&str>, label: Label| FieldDescriptorProto {
        name: Some(name.to_owned()),
        number: Some(number),
        label: Some(label as i32),
        r#type: Some(ty as i32),
        type_name: type_name.map(str::to_owned),
        oneof_index: (name == "left" || name == "right").then_some(0),
        ..Default::default()
    };
    let one = Label::Optional;
    let many = Label::Repeated;
    let entry = DescriptorProto {
        name: Some("CountsEntry".to_owned()),
        field: vec![field("key", 1, Type::String, None, one), field("value", 2, Type::Int64, None, one)],
        options: Some(MessageOptions { map_entry: Some(true), ..Default::default() }),
        ..Default::default()
    };
    let inner = DescriptorProto {
        name: Some("Inner".to_owned()),
        field: vec![field("n", 1, Type::String, None, one), field("count", 2, Type::Int64, None, one)],
        ..Default::default()
    };
    let shape = DescriptorProto {
        name: Some("Shape".to_owned()),
        field: vec![
            field("counts", 1, Type::Message, Some(".t.Shape.CountsEntry"), many),
            field("left", 2, Type::String, None, one),
            field("right", 3, Type::Int32, None, one),
            field("blob", 4, Type::Bytes, None, one),
            field("big", 5, Type::Uint64, None, one),
            field("small", 6, Type::Uint32, None, one),
            field("ratio", 7, Type::Double, None, one),
            field("wait", 8, Type::Message, Some(".google.protobuf.Duration"), one),
            field("extra", 9, Type::Message, Some(".google.protobuf.Any"), one),
            field("child", 10, Type::Message, Some(".t.Shape"), one),
            field("waits", 11, Type::Message, Some(".google.protobuf.Duration"), many),
            field("children", 12, Type::Message, Some(".t.Shape"), many),
            field("inner", 13, Type::Message, Some(".t.Inner"), one),
        ],
        nested_type: vec![entry],
        oneof_decl: vec![prost_types::OneofDescriptorProto { name: Some("side".to_owned()), options: None }],
        ..Default::default()
    };
    let file = FileDescriptorProto {
        name: Some("t/shape.proto".to_owned()),
        package: Some("t".to_owned()),
        syntax: Some("proto3".to_owned()),
        dependency: vec!["google/protobuf/duration.proto".to_owned(), "google/protobuf/any.proto".to_owned()],
        message_type: vec![shape, inner],
        ..Default::default()
    };
    let mut pool = POOL.clone();
    pool.add_file_descriptor_proto(file).unwrap();
    let message = pool.get_message_by_name("t.Shape").unwrap();

    let mut g = Generator::new(&pool);
    let schema = g.message_schema(&message);
    let p = &schema["properties"];
    assert_eq!(p["counts"], json!({"type": "object", "additionalProperties": {"type": "string", "format": "int64"}}));
    assert_eq!(p["left"], json!({"type": "string"}));
    assert_eq!(p["blob"]["format"], "byte");
    assert_eq!(p["big"], json!({"type": "string", "format": "uint64"}));
    assert_eq!(p["small"]["maximum"], u32::MAX);
    assert_eq!(p["ratio"]["oneOf"][0]["format"], "double");
    assert_eq!(p["wait"]["type"], "string");
    assert_eq!(p["extra"]["required"], json!(["@type"]));
    assert_eq!(p["child"]["$ref"], "#/components/schemas/t.Shape");
    assert!(schema["description"].as_str().unwrap().contains("At most one of `left`, `right`"));

    let mut params = Vec::new();
    let bound = [vec!["inner".to_owned(), "n".to_owned()]];
    g.query_params(&message, &[], &bound, None, &mut params);
    let names: Vec<&str> = params.iter().map(|p| p["name"].as_str().unwrap()).collect();
    // Maps, Any, repeated messages and the cycle back into Shape are left out, and so is the
    // path-bound `inner.n`; the rest of `inner` is dotted.
    assert_eq!(names, ["left", "right", "blob", "big", "small", "ratio", "wait", "waits", "inner.count"]);
    assert_eq!(params[7]["schema"]["type"], "array");

    let object = g.request_object(&message, &[vec!["child".to_owned(), "left".to_owned()]], true);
    assert_eq!(object["properties"]["child"]["additionalProperties"], false);
    assert!(object["properties"]["child"]["properties"].get("left").is_none());
    assert!(object["properties"]["child"]["properties"].get("right").is_some());
}

/// Set OPENAPI_DUMP=path to write the document, e.g. to validate it with other tools.
#[test]
fn dumps_the_document_when_asked() {
    if let Ok(path) = std::env::var("OPENAPI_DUMP") {
        std::fs::write(path, serde_json::to_string_pretty(&*DOC).unwrap()).unwrap();
    }
}
