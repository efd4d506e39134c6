use std::process::ExitCode;

#[actix_web::main]
async fn main() -> ExitCode {
    // A .env file is optional; real environment variables win over it.
    let _ = dotenvy::dotenv();
    gptgate_http::cli::run().await
}
