//! gRPC server reflection (v1, and v1alpha for grpcurl 1.8 and other older clients), listing
//! only what a server really serves rather than every service in the contracts.

use tonic::service::RoutesBuilder;

/// Adds reflection for health, reflection itself and `services` to `routes`.
pub fn add(routes: &mut RoutesBuilder, services: &[&str]) -> anyhow::Result<()> {
    let builder = || {
        let mut builder = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(mercato::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .with_service_name("grpc.health.v1.Health")
            .with_service_name("grpc.reflection.v1.ServerReflection")
            .with_service_name("grpc.reflection.v1alpha.ServerReflection");
        for name in services {
            builder = builder.with_service_name(*name);
        }
        builder
    };
    let v1 = builder().build_v1().map_err(|e| anyhow::anyhow!("building the reflection service: {e}"))?;
    let v1alpha =
        builder().build_v1alpha().map_err(|e| anyhow::anyhow!("building the v1alpha reflection service: {e}"))?;
    routes.add_service(v1).add_service(v1alpha);
    Ok(())
}
