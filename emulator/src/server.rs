//! Serving: bind the listener, print the start-up line, accept connections (optionally TLS) and
//! run each through hyper's HTTP/1.1 server with the axum app, until SIGINT/SIGTERM.
//!
//! A response marked [`DropConnection`] is turned into a service error, which makes hyper close
//! the connection without writing anything (the `dropRate` fault). Must not handle requests itself.

use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::cli::Cli;
use crate::context::{AppState, Scheme, Shared};
use crate::faults::{DropConnection, Faults};
use crate::openapi::OpenApiDocs;
use crate::routes::build_app;
use crate::startup::{StartError, StartupLine, open_store};
use crate::stats::Stats;
use crate::tls::{self, TlsError};

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Start(#[from] StartError),
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot install the signal handler: {0}")]
    Signal(std::io::Error),
}

/// The error that tells hyper to abort a connection.
#[derive(Debug, thiserror::Error)]
#[error("connection dropped by fault injection")]
struct Dropped;

/// Runs the emulator described by `cli` until SIGINT or SIGTERM.
pub async fn run(cli: Cli) -> Result<(), ServeError> {
    let tls = match (&cli.tls_cert, &cli.tls_key) {
        (Some(cert), Some(key)) => Some(tls::acceptor(cert, key)?),
        _ => None,
    };
    let store = open_store(&cli)?;
    let listener = TcpListener::bind(cli.listen)
        .await
        .map_err(|source| ServeError::Bind {
            addr: cli.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| ServeError::Bind {
        addr: cli.listen,
        source,
    })?;
    let scheme = if tls.is_some() {
        Scheme::Https
    } else {
        Scheme::Http
    };
    let url = cli
        .public_url
        .clone()
        .unwrap_or_else(|| format!("{}://{addr}", scheme.as_str()));
    let line = StartupLine::new(url.trim_end_matches('/').to_string(), &store);
    let profile = cli.profile.unwrap_or_default();
    let faults = Faults::default();
    // The baseline of a profile is always a valid configuration.
    let _ = faults.set(profile.fault_baseline());
    let state = AppState::new(Shared {
        store,
        faults,
        stats: Stats::default(),
        profile: parking_lot::RwLock::new(profile),
        openapi: OpenApiDocs::build(),
        scheme,
        public_url: cli.public_url.clone(),
        default_authority: addr.to_string(),
    });
    let app = build_app(state);
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(ServeError::Signal)?;
    line.print()?;
    tracing::info!(url = %line.url, org = %line.org_id, state = ?cli.state, "Control Hub emulator ready");
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = tokio::signal::ctrl_c() => break,
            _ = terminate.recv() => break,
        };
        match accepted {
            Ok((stream, _peer)) => {
                let _ = stream.set_nodelay(true);
                tokio::spawn(serve_connection(stream, tls.clone(), app.clone()));
            }
            Err(error) => {
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    }
    tracing::info!("shutting down");
    Ok(())
}

async fn serve_connection(stream: tokio::net::TcpStream, tls: Option<TlsAcceptor>, app: Router) {
    match tls {
        None => serve_http(stream, app).await,
        Some(acceptor) => match acceptor.accept(stream).await {
            Ok(stream) => serve_http(stream, app).await,
            Err(error) => tracing::debug!(%error, "TLS handshake failed"),
        },
    }
}

async fn serve_http<IO>(io: IO, app: Router)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let app = app.clone();
        async move {
            let response: Response<Body> = match app.oneshot(request.map(Body::new)).await {
                Ok(response) => response,
                Err(never) => match never {},
            };
            if response.extensions().get::<DropConnection>().is_some() {
                return Err(Dropped);
            }
            Ok::<_, Dropped>(response)
        }
    });
    let result = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(io), service)
        .await;
    if let Err(error) = result {
        tracing::debug!(%error, "connection ended with an error");
    }
}
