//! WSO2 MI and Synapse compatibility beyond single request/response cases: names local to
//! an artifact, project layouts, the registry and `axon check --report`.

use crate::support::TestAxon;
use crate::support::backend::Backend;

/// Two resources of one API and a second API each hold an inline endpoint named `QuoteEP`:
/// in MI such names are local to their artifact, so nothing collides, each is its own
/// actor shown as `Artifact/resource/name`, and switching one off leaves the others alone.
#[actix_rt::test]
async fn inline_endpoint_names_are_local_to_their_artifact() {
    let backend = Backend::named("b").await;
    let ep = |path: &str| {
        format!(
            r#"<send><endpoint name="QuoteEP"><address uri="{}"/></endpoint></send>"#,
            backend.url(path)
        )
    };
    let api = format!(
        r#"<api name="StockAPI" context="/stock">
  <resource methods="GET" uri-template="/quote"><inSequence>{}</inSequence></resource>
  <resource methods="GET" url-mapping="/order"><inSequence>{}</inSequence></resource>
</api>"#,
        ep("/q"),
        ep("/o")
    );
    let other = format!(
        r#"<api name="OtherAPI" context="/other"><resource methods="GET"><inSequence>{}</inSequence></resource></api>"#,
        ep("/x")
    );
    let global = format!(
        r#"<endpoint name="QuoteEP"><address uri="{}"/></endpoint>"#,
        backend.url("/g")
    );
    let axon = TestAxon::start(&[("a.xml", &api), ("b.xml", &other), ("ep.xml", &global)]).await;
    for path in ["/stock/quote", "/stock/order", "/other"] {
        assert_eq!(axon.get(path).await.status, 200, "{path}");
    }
    for name in [
        "StockAPI%2Fquote%2FQuoteEP",
        "StockAPI%2Forder%2FQuoteEP",
        "OtherAPI%2Fdefault%2FQuoteEP",
        "QuoteEP",
    ] {
        let report = axon.endpoint(name).await;
        let sent = if name == "QuoteEP" { 0 } else { 1 };
        assert_eq!(report["counters"]["sent"], sent, "{name}: {report}");
    }
    let (status, _) = axon
        .admin_post("/health/actors/StockAPI%2Fquote%2FQuoteEP/off")
        .await;
    assert_eq!(status, 200);
    assert_eq!(axon.get("/stock/quote").await.status, 503);
    assert_eq!(axon.get("/stock/order").await.status, 200);
    assert_eq!(axon.state("StockAPI%2Forder%2FQuoteEP").await, "ACTIVE");
}
