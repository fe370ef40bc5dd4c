//! Compiles the protobuf of the test service (`tests/proto/echo.proto`), used by the gRPC
//! integration tests and the gRPC bench. Axon itself needs no generated code: it passes
//! gRPC messages through as bytes.

fn main() {
    println!("cargo:rerun-if-changed=tests/proto/echo.proto");
    let mut config = tonic_prost_build::Config::new();
    match protoc_bin_vendored::protoc_bin_path() {
        Ok(path) => {
            config.protoc_executable(path);
        }
        Err(error) => {
            println!(
                "cargo:warning=no vendored protoc for this platform ({error}); using PROTOC or PATH"
            );
        }
    }
    if let Err(error) = tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_with_config(config, &["tests/proto/echo.proto"], &["tests/proto"])
    {
        panic!("compiling tests/proto/echo.proto failed: {error}");
    }
}
