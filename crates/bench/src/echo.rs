//! A bare tonic `CatalogService`: no kit, no layers, no database. `GetProduct` answers with a
//! canned product the size of a real one, so catalog's throughput can be read against the most
//! this machine, tonic and prost can do.

use std::net::SocketAddr;

use mercato::{
    catalog::v1::{
        AdjustStockRequest, AdjustStockResponse, BatchGetProductsRequest, BatchGetProductsResponse,
        CreateProductRequest, CreateProductResponse, GetProductRequest, GetProductResponse, ListCategoriesRequest,
        ListCategoriesResponse, ListProductsRequest, ListProductsResponse, Product, StockLevel, UpdateProductRequest,
        UpdateProductResponse,
        catalog_service_server::{CatalogService, CatalogServiceServer},
    },
    google::r#type::Money,
};
use tonic::{Request, Response, Status, transport::server::TcpIncoming};

/// Echoes the requested id inside a fixed product.
#[derive(Debug, Clone)]
pub struct EchoCatalog {
    product: Product,
}

impl Default for EchoCatalog {
    fn default() -> Self {
        Self { product: canned_product() }
    }
}

/// Shaped like catalog's seeded coffee: every field set, a ~150-character description.
pub fn canned_product() -> Product {
    let time = prost_types::Timestamp { seconds: 1_735_689_600, nanos: 0 };
    Product {
        id: String::new(),
        sku: "COF-0001".to_string(),
        name: "Ethiopia Yirgacheffe Whole Bean Coffee".to_string(),
        description: "Light roast single-origin coffee from the Gedeo zone with notes of \
                      bergamot, jasmine and lemon. Washed process, 340 g (12 oz) resealable bag."
            .to_string(),
        category_ids: vec!["coffee".to_string(), "pantry".to_string()],
        price: Some(Money { currency_code: "USD".to_string(), units: 16, nanos: 500_000_000 }),
        image_url: "https://images.mercato.example/products/cof-0001.jpg".to_string(),
        stock: Some(StockLevel { on_hand: 142, reserved: 0, available: 142 }),
        create_time: Some(time),
        update_time: Some(time),
    }
}

fn unimplemented<T>() -> Result<Response<T>, Status> {
    Err(Status::unimplemented("echo-server only answers GetProduct"))
}

#[tonic::async_trait]
impl CatalogService for EchoCatalog {
    async fn get_product(&self, request: Request<GetProductRequest>) -> Result<Response<GetProductResponse>, Status> {
        let mut product = self.product.clone();
        product.id = request.into_inner().id;
        Ok(Response::new(GetProductResponse { product: Some(product) }))
    }

    async fn list_products(&self, _: Request<ListProductsRequest>) -> Result<Response<ListProductsResponse>, Status> {
        unimplemented()
    }

    async fn batch_get_products(
        &self,
        _: Request<BatchGetProductsRequest>,
    ) -> Result<Response<BatchGetProductsResponse>, Status> {
        unimplemented()
    }

    async fn create_product(
        &self,
        _: Request<CreateProductRequest>,
    ) -> Result<Response<CreateProductResponse>, Status> {
        unimplemented()
    }

    async fn update_product(
        &self,
        _: Request<UpdateProductRequest>,
    ) -> Result<Response<UpdateProductResponse>, Status> {
        unimplemented()
    }

    async fn adjust_stock(&self, _: Request<AdjustStockRequest>) -> Result<Response<AdjustStockResponse>, Status> {
        unimplemented()
    }

    async fn list_categories(
        &self,
        _: Request<ListCategoriesRequest>,
    ) -> Result<Response<ListCategoriesResponse>, Status> {
        unimplemented()
    }

    type WatchStockStream = futures::stream::Empty<Result<mercato::catalog::v1::WatchStockResponse, Status>>;

    async fn watch_stock(
        &self,
        _: Request<mercato::catalog::v1::WatchStockRequest>,
    ) -> Result<Response<Self::WatchStockStream>, Status> {
        unimplemented()
    }
}

/// Binds `addr` (port 0 picks one), calls `on_bound` with the bound address, then serves until
/// `shutdown` resolves.
pub async fn serve(
    addr: SocketAddr,
    on_bound: impl FnOnce(SocketAddr),
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    on_bound(listener.local_addr()?);
    // Same socket options as the kit's server, so the comparison is about the stack above them.
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    tonic::transport::Server::builder()
        .add_service(CatalogServiceServer::new(EchoCatalog::default()))
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await?;
    Ok(())
}
