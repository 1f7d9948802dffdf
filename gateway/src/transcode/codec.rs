//! A tonic codec over `DynamicMessage`s, so the gateway can call any upstream method knowing only
//! its descriptors.

use prost::Message as _;
use prost_reflect::{DynamicMessage, MessageDescriptor};
use tonic::Status;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

/// Encodes whatever request message it is given; decodes responses as `output`.
#[derive(Debug, Clone)]
pub struct DynamicCodec {
    output: MessageDescriptor,
}

impl DynamicCodec {
    pub fn new(output: MessageDescriptor) -> Self {
        Self { output }
    }
}

impl Codec for DynamicCodec {
    type Encode = DynamicMessage;
    type Decode = DynamicMessage;
    type Encoder = DynamicEncoder;
    type Decoder = DynamicDecoder;

    fn encoder(&mut self) -> Self::Encoder {
        DynamicEncoder
    }

    fn decoder(&mut self) -> Self::Decoder {
        DynamicDecoder { output: self.output.clone() }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct DynamicEncoder;

impl Encoder for DynamicEncoder {
    type Item = DynamicMessage;
    type Error = Status;

    fn encode(&mut self, item: Self::Item, dst: &mut EncodeBuf<'_>) -> Result<(), Self::Error> {
        item.encode(dst).map_err(|e| Status::internal(format!("cannot encode the request: {e}")))
    }
}

#[derive(Debug, Clone)]
pub struct DynamicDecoder {
    output: MessageDescriptor,
}

impl Decoder for DynamicDecoder {
    type Item = DynamicMessage;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Self::Item>, Self::Error> {
        DynamicMessage::decode(self.output.clone(), src)
            .map(Some)
            .map_err(|e| Status::internal(format!("cannot decode the upstream response: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use mercato::shipping::v1::shipping_service_server::{ShippingService, ShippingServiceServer};
    use mercato::shipping::v1::{GetShipmentRequest, GetShipmentResponse, Shipment};
    use prost_reflect::Value;
    use tonic::transport::server::TcpIncoming;
    use tonic::{Request, Response};

    use super::*;
    use crate::transcode::testing::pool;

    struct Shipping;

    #[tonic::async_trait]
    impl ShippingService for Shipping {
        async fn get_shipment(
            &self,
            req: Request<GetShipmentRequest>,
        ) -> Result<Response<GetShipmentResponse>, Status> {
            let order_id = req.into_inner().order_id;
            if order_id == "missing" {
                return Err(Status::not_found("no shipment"));
            }
            let shipment = Shipment { order_id, carrier: "dhl".into(), ..Default::default() };
            Ok(Response::new(GetShipmentResponse { shipment: Some(shipment) }))
        }
    }

    #[tokio::test]
    async fn calls_a_real_server_with_dynamic_messages() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tonic::transport::Server::builder()
            .add_service(ShippingServiceServer::new(Shipping))
            .serve_with_incoming(TcpIncoming::from(listener));
        let server = tokio::spawn(server);

        let pool = pool();
        let method = pool
            .get_service_by_name("mercato.shipping.v1.ShippingService")
            .and_then(|s| s.methods().find(|m| m.name() == "GetShipment"))
            .unwrap();
        let channel =
            tonic::transport::Endpoint::from_shared(format!("http://{addr}")).unwrap().connect().await.unwrap();
        let mut grpc = tonic::client::Grpc::new(channel);

        let call = |order_id: &str| {
            let mut request = DynamicMessage::new(method.input());
            request.set_field_by_name("order_id", Value::String(order_id.to_owned()));
            request
        };
        let path = http::uri::PathAndQuery::from_static("/mercato.shipping.v1.ShippingService/GetShipment");

        grpc.ready().await.unwrap();
        let response = grpc
            .unary(Request::new(call("o1")), path.clone(), DynamicCodec::new(method.output()))
            .await
            .unwrap()
            .into_inner();
        let shipment = response.get_field_by_name("shipment").unwrap();
        let shipment = shipment.as_message().unwrap();
        assert_eq!(shipment.get_field_by_name("order_id").unwrap().as_str(), Some("o1"));
        assert_eq!(shipment.get_field_by_name("carrier").unwrap().as_str(), Some("dhl"));

        grpc.ready().await.unwrap();
        let err =
            grpc.unary(Request::new(call("missing")), path, DynamicCodec::new(method.output())).await.unwrap_err();
        assert_eq!(err.code(), tonic::Code::NotFound);

        server.abort();
    }
}
