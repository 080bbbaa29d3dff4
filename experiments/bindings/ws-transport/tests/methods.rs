//! Every method of the service, against a real server.

mod common;

use common::TestServer;
use simd_r_drive_ws_transport::ServerError;

#[tokio::test]
async fn every_method_round_trips() {
    let server = TestServer::start(true).await;
    let client = server.connect(true).await;

    assert!(client.is_empty().await.unwrap());
    assert_eq!(client.len().await.unwrap(), 0);
    assert!(
        client
            .write(b"alpha".to_vec(), b"one".to_vec())
            .await
            .unwrap()
            > 0
    );
    let batch = vec![
        (b"beta".to_vec(), b"two".to_vec()),
        (b"gamma".to_vec(), vec![0, 255]),
    ];
    client.batch_write(batch).await.unwrap();

    assert_eq!(
        client.read(b"alpha".to_vec()).await.unwrap(),
        Some(b"one".to_vec())
    );
    assert_eq!(client.read(b"missing".to_vec()).await.unwrap(), None);
    let keys = vec![b"gamma".to_vec(), b"missing".to_vec(), b"beta".to_vec()];
    let expected = vec![Some(vec![0, 255]), None, Some(b"two".to_vec())];
    assert_eq!(client.batch_read(keys).await.unwrap(), expected);

    assert!(client.exists(b"beta".to_vec()).await.unwrap());
    assert_eq!(client.len().await.unwrap(), 3);
    assert!(!client.is_empty().await.unwrap());
    assert!(client.file_size().await.unwrap() > 0);

    client.delete(b"beta".to_vec()).await.unwrap();
    assert!(!client.exists(b"beta".to_vec()).await.unwrap());
    assert_eq!(client.read(b"beta".to_vec()).await.unwrap(), None);
    assert_eq!(client.len().await.unwrap(), 2);
}

#[tokio::test]
async fn large_values_round_trip() {
    let server = TestServer::start(true).await;
    let client = server.connect(true).await;
    for size in [1, 65_535, 65_536, 1 << 20, 8 << 20] {
        let payload: Vec<u8> = (0..size).map(|i| (i % 251) as u8 + 1).collect();
        let key = format!("size-{size}").into_bytes();
        client.write(key.clone(), payload.clone()).await.unwrap();
        let back = client.read(key).await.unwrap().expect("value missing");
        assert!(back == payload, "the {size}-byte value came back different");
    }
}

#[tokio::test]
async fn concurrent_calls_share_one_connection() {
    let server = TestServer::start(true).await;
    let client = server.connect(true).await;
    let tasks: Vec<_> = (0..16u8)
        .map(|task| {
            let client = client.clone();
            tokio::spawn(async move {
                for round in 0..20u8 {
                    let key = vec![task, round];
                    client
                        .write(key.clone(), vec![task ^ round; 100])
                        .await
                        .unwrap();
                    assert_eq!(
                        client.read(key).await.unwrap(),
                        Some(vec![task ^ round; 100])
                    );
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(client.len().await.unwrap(), 16 * 20);
}

/// The engine refuses an empty value and a lone NULL byte (its deletion marker); the
/// server's reason comes back in the error.
#[tokio::test]
async fn values_the_engine_refuses_fail_with_its_reason() {
    let server = TestServer::start(true).await;
    let client = server.connect(true).await;
    for refused in [vec![], vec![0]] {
        let error = client
            .write(b"key".to_vec(), refused.clone())
            .await
            .unwrap_err();
        let reason = ServerError::find(&error).expect("not a server error");
        assert!(reason.message.contains("ayload"), "{refused:?}: {error}");
    }
    assert!(
        client.is_connected(),
        "a refused value must not break the connection"
    );
    assert_eq!(client.read(b"key".to_vec()).await.unwrap(), None);
}
