use super::*;
use prost::Message as _;

#[test]
fn timeouts_parse_in_every_unit_and_reject_malformed_values() {
    assert_eq!(parse_timeout(b"2H"), Some(Duration::from_secs(7200)));
    assert_eq!(parse_timeout(b"3M"), Some(Duration::from_secs(180)));
    assert_eq!(parse_timeout(b"4S"), Some(Duration::from_secs(4)));
    assert_eq!(parse_timeout(b"250m"), Some(Duration::from_millis(250)));
    assert_eq!(parse_timeout(b"7u"), Some(Duration::from_micros(7)));
    assert_eq!(
        parse_timeout(b"99999999n"),
        Some(Duration::from_nanos(99_999_999))
    );
    for bad in [
        &b""[..],
        b"m",
        b"123",
        b"123x",
        b"123456789m",
        b"-1m",
        b"1.5S",
        b" 1S",
    ] {
        assert_eq!(
            parse_timeout(bad),
            None,
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
}

#[test]
fn timeouts_encode_in_the_finest_unit_that_fits_and_round_up() {
    let enc = |d| encode_timeout(d).to_str().unwrap_or_default().to_owned();
    assert_eq!(enc(Duration::from_nanos(1500)), "1500n");
    assert_eq!(enc(Duration::from_millis(250)), "250000u");
    assert_eq!(enc(Duration::from_secs(5)), "5000000u");
    assert_eq!(enc(Duration::from_secs(500)), "500000m");
    assert_eq!(enc(Duration::from_secs(200_000)), "200000S");
    assert_eq!(enc(Duration::ZERO), "1n");
    assert_eq!(enc(Duration::from_nanos(100_000_000_001)), "100001m");
    for d in [
        Duration::from_millis(3),
        Duration::from_secs(77),
        Duration::from_nanos(123_456_789_123),
    ] {
        let back = parse_timeout(encode_timeout(d).as_bytes()).unwrap_or_default();
        assert!(
            back >= d && back - d < d / 1000 + Duration::from_micros(1),
            "{d:?} -> {back:?}"
        );
    }
}

#[test]
fn frames_round_trip_and_partial_frames_are_rejected() {
    let framed = frame(b"hello");
    assert_eq!(&framed[..5], &[0, 0, 0, 0, 5]);
    assert_eq!(first_message(&framed), Some(&b"hello"[..]));
    assert_eq!(first_message(&framed[..7]), None);
    assert_eq!(first_message(&[1, 0, 0, 0, 0]), None, "compressed");
    assert_eq!(first_message(&[]), None);
}

#[test]
fn messages_are_percent_encoded_both_ways() {
    let v = encode_message("100% sure: naïve\nline");
    assert_eq!(v.to_str().ok(), Some("100%25 sure: na%C3%AFve%0Aline"));
    assert_eq!(decode_message(&v), "100% sure: naïve\nline");
}

#[test]
fn health_messages_match_the_standard_encoding() {
    // Field 1, length-delimited, "abc"; field 1, varint, 2.
    let req = HealthCheckRequest {
        service: "abc".into(),
    }
    .encode_to_vec();
    assert_eq!(req, vec![0x0a, 3, b'a', b'b', b'c']);
    let resp = HealthCheckResponse::decode(&[0x08, 2][..]).map(|r| r.status);
    assert_eq!(resp.ok(), Some(ServingStatus::NotServing.number()));
    assert_eq!(ServingStatus::from_number(1), ServingStatus::Serving);
}

#[test]
fn http_statuses_map_to_the_grpc_specification_codes() {
    assert_eq!(code_for_http(504), code::DEADLINE_EXCEEDED);
    assert_eq!(code_for_http(503), code::UNAVAILABLE);
    assert_eq!(code_for_http(502), code::UNAVAILABLE);
    assert_eq!(code_for_http(404), code::UNIMPLEMENTED);
    assert_eq!(
        code_for_http(410),
        code::UNIMPLEMENTED,
        "a retired API is gone for good"
    );
    assert_eq!(code_for_http(200), code::OK);
    assert_eq!(code_for_http(418), code::UNKNOWN);
    assert!(is_grpc_content_type(b"application/grpc"));
    assert!(is_grpc_content_type(b"application/grpc+proto"));
    assert!(!is_grpc_content_type(b"application/grpcx"));
    assert!(!is_grpc_content_type(b"application/json"));
}
