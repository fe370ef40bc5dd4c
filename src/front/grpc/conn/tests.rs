use super::*;

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut f = (payload.len() as u32).to_be_bytes()[1..].to_vec();
    f.extend_from_slice(&[kind, flags]);
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

#[test]
fn the_cursor_finds_every_frame_whatever_the_read_sizes() {
    let mut bytes = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    bytes.extend(frame(SETTINGS, 0, 0, &[0, 4, 0, 0, 0, 1]));
    bytes.extend(frame(HEADERS, 4, 1, &[0x82; 20]));
    bytes.extend(frame(DATA, 1, 1, &[7; 300]));
    bytes.extend(frame(PING, 0, 0, &[0; 8]));
    for chunk in [1, 2, 7, 9, 10, 64, bytes.len()] {
        let mut cursor = Cursor::client_side();
        let mut seen = Vec::new();
        for piece in bytes.chunks(chunk) {
            cursor.feed(piece, |s| {
                if let Seen::Head(h) = s {
                    seen.push((h.kind, h.len, h.stream));
                }
            });
        }
        assert_eq!(
            seen,
            [
                (SETTINGS, 6, 0),
                (HEADERS, 20, 1),
                (DATA, 300, 1),
                (PING, 8, 0)
            ],
            "chunks of {chunk}"
        );
        assert!(cursor.at_boundary());
    }
}

#[test]
fn table_size_updates_are_read_past_padding_and_priority() {
    let (padded, priority) = (FLAG_PADDED, FLAG_PRIORITY);
    let prio = [0u8, 0, 0, 3, 15];
    let cases: &[(u8, Vec<u8>, Option<u64>)] = &[
        (4, vec![0x82, 0x86], None),
        (4, vec![0x3f, 0xe1, 0x3f], Some(8192)),
        (4, vec![0x3f, 0xe1, 0x1f, 0x82], Some(4096)),
        (4, vec![0x20, 0x82], Some(0)),
        (4, vec![0x3e, 0x82], Some(30)),
        (4, vec![0x20, 0x3f, 0xe2, 0x1f], Some(4097)),
        (4, vec![0x20, 0x20, 0x3f, 0xe2, 0x1f], Some(0)),
        (4, vec![0x3f, 0xe1], None),
        (4, vec![0x3f, 0x80, 0x80, 0x80, 0x80, 0x01], None),
        (
            padded,
            [&[2u8][..], &[0x3f, 0xe1, 0x3f], &[0, 0]].concat(),
            Some(8192),
        ),
        (padded, vec![2, 0x3f, 0xe1, 0x3f], None),
        (padded, vec![2, 0x3e, 0xe1, 0x3f], Some(30)),
        (padded, vec![9, 0x3f], None),
        (
            priority,
            [&prio[..], &[0x3f, 0xe1, 0x3f]].concat(),
            Some(8192),
        ),
        (priority, vec![0x3f, 0xe1, 0x3f], None),
        (
            padded | priority,
            [&[1u8][..], &prio, &[0x3f, 0xe1, 0x3f, 0]].concat(),
            Some(8192),
        ),
    ];
    for (flags, payload, want) in cases {
        let head = Head {
            len: payload.len() as u32,
            kind: HEADERS,
            flags: *flags,
            stream: 1,
        };
        let lead = &payload[..payload.len().min(LEAD_LEN)];
        assert_eq!(table_size_update(head, lead), *want, "{payload:x?}");
    }
}

#[test]
fn an_oversized_table_update_is_refused_whatever_the_read_sizes() {
    let mut bytes = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    bytes.extend(frame(HEADERS, 4, 1, &[0x3f, 0xe1, 0x1f, 0x82]));
    let ok = bytes.len();
    bytes.extend(frame(HEADERS, 4, 3, &[0x3f, 0xe1, 0x3f, 0x82, 0x86]));
    for chunk in [1, 2, 5, bytes.len()] {
        let (io, _peer) = tokio::io::duplex(1024);
        let mut metered = Metered::new(io, ConnState::new(), 100);
        let mut fed = 0;
        let verdict = bytes.chunks(chunk).find_map(|piece| {
            fed += piece.len();
            metered.follow_read(piece).err()
        });
        assert_eq!(verdict, Some(Fault::TableSize), "chunks of {chunk}");
        assert!(fed > ok, "the good frame passed");
        assert!(metered.last_stream < 3, "stream 3 was never processed");
    }
}

#[test]
fn only_frames_that_carry_nothing_for_a_call_cost() {
    let costly = |kind, flags, len| {
        Head {
            len,
            kind,
            flags,
            stream: 0,
        }
        .is_costly()
    };
    assert!(costly(SETTINGS, 0, 6));
    assert!(!costly(SETTINGS, FLAG_ACK, 0));
    assert!(costly(PING, 0, 8));
    assert!(!costly(PING, FLAG_ACK, 8));
    assert!(costly(PRIORITY, 0, 5));
    assert!(costly(DATA, 0, 0));
    assert!(!costly(DATA, FLAG_END_STREAM, 0));
    assert!(!costly(DATA, 0, 10));
    assert!(!costly(HEADERS, 4, 10));
    assert!(costly(0x20, 0, 0));
}

#[test]
fn a_ping_after_data_from_the_server_is_free() {
    let (io, _peer) = tokio::io::duplex(1024);
    let mut metered = Metered::new(io, ConnState::new(), 2);
    let ping = frame(PING, 0, 0, &[0; 8]);
    assert!(
        metered
            .follow_read(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
            .is_ok()
    );
    for _ in 0..10 {
        metered.follow_written(&frame(DATA, 0, 1, &[1; 100]));
        assert!(metered.follow_read(&ping).is_ok(), "a ping per burst");
    }
    assert!(metered.follow_read(&ping).is_ok());
    assert!(metered.follow_read(&ping).is_ok());
    assert_eq!(
        metered.follow_read(&ping),
        Err(Fault::Flood),
        "pings with nothing sent are counted"
    );
}

#[tokio::test]
async fn a_flood_over_the_budget_gets_goaway_enhance_your_calm() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let (client, server) = tokio::io::duplex(64 * 1024);
    let state = ConnState::new();
    let mut metered = Metered::new(server, state.clone(), 10);
    // The server's own SETTINGS went out: GOAWAY may follow it.
    metered
        .write_all(&frame(SETTINGS, 0, 0, &[]))
        .await
        .unwrap();
    let mut flood = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    flood.extend(frame(HEADERS, 4, 3, &[0x82]));
    let (mut client_read, mut client_write) = tokio::io::split(client);
    client_write.write_all(&flood).await.unwrap();
    let mut buf = [0u8; 1024];
    // The preface and stream 3 arrive first, then the flood.
    let n = metered.read(&mut buf).await.expect("within the budget");
    assert_eq!(n, flood.len());
    let mut flood = Vec::new();
    for _ in 0..11 {
        flood.extend(frame(SETTINGS, 0, 0, &[0, 4, 0, 0, 0, 1]));
    }
    flood.extend(frame(HEADERS, 4, 5, &[0x82]));
    client_write.write_all(&flood).await.unwrap();
    let error = metered.read(&mut buf).await.expect_err("over the budget");
    assert!(error.to_string().contains("too many control frames"));
    assert!(state.has_preface());
    assert!(
        metered.write(b"more").await.is_err(),
        "nothing after GOAWAY"
    );
    let mut got = vec![0u8; HEADER_LEN + HEADER_LEN + 8];
    client_read.read_exact(&mut got).await.unwrap();
    let goaway = &got[HEADER_LEN..];
    assert_eq!(goaway[3], GOAWAY);
    assert_eq!(&goaway[HEADER_LEN..HEADER_LEN + 4], &3u32.to_be_bytes());
    assert_eq!(&goaway[HEADER_LEN + 4..], &ENHANCE_YOUR_CALM.to_be_bytes());
}
