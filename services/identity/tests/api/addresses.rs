use mercato::identity::v1 as pb;
use mercato_kit::testing::Backend;
use tonic::Code;

use crate::helpers::{as_user, on_both_databases, spawn, violated_fields};

on_both_databases!(addresses_belong_to_their_owner);

fn address(name: &str, default: bool) -> pb::AddAddressRequest {
    pb::AddAddressRequest {
        address: Some(pb::Address {
            recipient_name: name.into(),
            address_lines: vec!["Unter den Linden 1".into()],
            city: "Berlin".into(),
            postal_code: "10117".into(),
            country_code: "de".into(),
            is_default: default,
            ..Default::default()
        }),
    }
}

async fn addresses_belong_to_their_owner(backend: Backend) {
    let identity = spawn(backend).await;
    let alice = identity.customer_token("alice@example.com").await.unwrap();
    let bob = identity.customer_token("bob@example.com").await.unwrap();
    let mut as_alice = as_user(&identity, &alice);

    let home = as_alice.add_address(address("Alice Home", false)).await.unwrap().into_inner().address.unwrap();
    assert!(home.is_default, "the first address becomes the default");
    assert_eq!(home.country_code, "DE");
    let work = as_alice.add_address(address("Alice Work", false)).await.unwrap().into_inner().address.unwrap();
    assert!(!work.is_default);
    let work = as_alice
        .set_default_address(pb::SetDefaultAddressRequest { address_id: work.id.clone() })
        .await
        .unwrap()
        .into_inner()
        .address
        .unwrap();
    assert!(work.is_default);
    let list = as_alice.list_addresses(pb::ListAddressesRequest {}).await.unwrap().into_inner().addresses;
    let defaults: Vec<_> = list.iter().map(|a| (a.recipient_name.as_str(), a.is_default)).collect();
    assert_eq!(defaults, [("Alice Work", true), ("Alice Home", false)]);

    // Bob can neither see nor touch Alice's addresses: they read as not found.
    let mut as_bob = as_user(&identity, &bob);
    assert!(as_bob.list_addresses(pb::ListAddressesRequest {}).await.unwrap().into_inner().addresses.is_empty());
    let steal = as_bob.delete_address(pb::DeleteAddressRequest { address_id: home.id.clone() }).await.unwrap_err();
    assert_eq!(steal.code(), Code::NotFound);

    as_alice.delete_address(pb::DeleteAddressRequest { address_id: work.id.clone() }).await.unwrap();
    let list = as_alice.list_addresses(pb::ListAddressesRequest {}).await.unwrap().into_inner().addresses;
    assert_eq!(list.len(), 1);
    assert!(list[0].is_default, "deleting the default promotes the next address");

    let bad = as_alice
        .add_address(pb::AddAddressRequest {
            address: Some(pb::Address {
                country_code: "Germany".into(),
                phone: "call me".into(),
                ..Default::default()
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(
        violated_fields(&bad),
        ["address.recipient_name", "address.address_lines", "address.city", "address.country_code", "address.phone"]
    );
    identity.stop().await.unwrap();
}
