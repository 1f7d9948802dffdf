//! orders owns carts, orders and the checkout saga (the orchestrator).
//!
//! Built so far: the saga's state machine ([`domain::saga`]) and the cart's rules
//! ([`domain::cart`]). The service around it (cart,
//! PlaceOrder, the orchestrator's storage, durable timers and consumers, the read API) is the
//! rest of issue 11.

pub mod domain;
