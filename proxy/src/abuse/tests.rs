//! The limiter's tests: buckets, quotas in halves of a try-on, and who counts as a client.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use super::*;

const T0: u64 = 1_800_000_000_000 - 1_800_000_000_000 % clock::DAY_MS + 3_600_000;

fn limiter(limits: AbuseLimits) -> (Limiter, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::at(T0));
    (
        Limiter::new(limits, Arc::new(MemoryStore::default()), clock.clone()),
        clock,
    )
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

#[tokio::test]
async fn twenty_creates_from_one_address_let_exactly_the_burst_through() {
    let (limiter, _) = limiter(AbuseLimits::default());
    let mut admitted = 0;
    let mut refusals = Vec::new();
    for _ in 0..20 {
        match limiter.admit_create(ip("198.51.100.1"), None).await {
            Ok(charge) => {
                admitted += 1;
                charge.settle(true).await;
            }
            Err(refusal) => refusals.push(refusal),
        }
    }
    assert_eq!(admitted, 3);
    assert_eq!(refusals.len(), 17);
    for refusal in &refusals {
        assert_eq!(
            (refusal.code(), refusal.http_status()),
            (ErrorCode::RateLimited, 429)
        );
        assert_eq!(refusal.retry_after_secs(), 20);
    }
    assert!(
        limiter.admit_create(ip("198.51.100.2"), None).await.is_ok(),
        "other addresses have their own bucket"
    );
}

#[tokio::test]
async fn the_bucket_refills_one_create_per_period() {
    let (limiter, clock) = limiter(AbuseLimits::default());
    let client = ip("198.51.100.1");
    for _ in 0..3 {
        limiter
            .admit_create(client, None)
            .await
            .unwrap()
            .settle(true)
            .await;
    }
    clock.advance(Duration::from_secs(19));
    let early = limiter
        .admit_create(client, None)
        .await
        .err()
        .expect("refill is not due yet");
    assert_eq!(early.retry_after_secs(), 1);
    clock.advance(Duration::from_secs(1));
    limiter
        .admit_create(client, None)
        .await
        .expect("one token after 20 s")
        .settle(true)
        .await;
    assert!(
        limiter.admit_create(client, None).await.is_err(),
        "and only one"
    );
    clock.advance(Duration::from_secs(60));
    for i in 0..3 {
        let admitted = limiter.admit_create(client, None).await;
        assert!(
            admitted.is_ok(),
            "after a full minute the burst is back (create {i})"
        );
    }
    assert!(
        limiter.admit_create(client, None).await.is_err(),
        "the bucket never holds more than the burst"
    );
}

#[tokio::test]
async fn ipv6_clients_share_a_bucket_per_64() {
    let (limiter, _) = limiter(AbuseLimits::default());
    for i in 1..=3 {
        limiter
            .admit_create(ip(&format!("2001:db8:1:2::{i}")), None)
            .await
            .unwrap()
            .settle(true)
            .await;
    }
    assert!(
        limiter
            .admit_create(ip("2001:db8:1:2:ffff::9"), None)
            .await
            .is_err()
    );
    assert!(
        limiter
            .admit_create(ip("2001:db8:1:3::1"), None)
            .await
            .is_ok()
    );
}

fn generous_bucket(limits: AbuseLimits) -> AbuseLimits {
    AbuseLimits {
        create: BucketRule {
            burst: 1000,
            period: Duration::from_millis(1),
        },
        ..limits
    }
}

#[tokio::test]
async fn the_daily_budget_stops_creates_at_its_number_until_midnight() {
    let (limiter, clock) = limiter(generous_bucket(AbuseLimits {
        daily_budget: Some(5),
        ..AbuseLimits::default()
    }));
    for i in 0..5 {
        let charge = limiter
            .admit_create(ip(&format!("198.51.100.{i}")), None)
            .await
            .expect("within budget");
        charge.settle(true).await;
    }
    let refused = limiter
        .admit_create(ip("198.51.100.99"), None)
        .await
        .err()
        .expect("budget spent");
    assert_eq!(
        (refused.code(), refused.http_status()),
        (ErrorCode::QuotaExhausted, 429)
    );
    assert_eq!(
        refused.retry_after_secs(),
        23 * 3600,
        "T0 is 01:00 UTC: retry at midnight"
    );
    clock.advance(Duration::from_secs(23 * 3600));
    assert!(
        limiter
            .admit_create(ip("198.51.100.99"), None)
            .await
            .is_ok(),
        "a new day, a new budget"
    );
}

#[tokio::test]
async fn only_tasks_the_provider_accepted_are_charged() {
    let (limiter, _) = limiter(generous_bucket(AbuseLimits {
        daily_budget: Some(2),
        ..AbuseLimits::default()
    }));
    let client = ip("198.51.100.1");
    for _ in 0..10 {
        limiter
            .admit_create(client, None)
            .await
            .expect("refused tasks are free")
            .settle(false)
            .await;
    }
    for _ in 0..10 {
        drop(
            limiter
                .admit_create(client, None)
                .await
                .expect("abandoned creates are free"),
        );
        tokio::task::yield_now().await;
    }
    limiter
        .admit_create(client, None)
        .await
        .unwrap()
        .settle(true)
        .await;
    limiter
        .admit_create(client, None)
        .await
        .unwrap()
        .settle(true)
        .await;
    assert!(
        limiter.admit_create(client, None).await.is_err(),
        "two accepted tasks spend a budget of two"
    );
}

#[tokio::test]
async fn in_flight_reservations_stop_concurrent_creates_from_overshooting() {
    let (limiter, _) = limiter(generous_bucket(AbuseLimits {
        daily_budget: Some(3),
        ..AbuseLimits::default()
    }));
    let mut held = Vec::new();
    let mut refused = 0;
    for i in 0..10 {
        match limiter
            .admit_create(ip(&format!("198.51.100.{i}")), None)
            .await
        {
            Ok(charge) => held.push(charge),
            Err(_) => refused += 1,
        }
    }
    assert_eq!((held.len(), refused), (3, 7));
}

#[tokio::test]
async fn each_shop_has_its_own_daily_quota() {
    let limits = generous_bucket(AbuseLimits {
        shop_daily_quota: Some(2),
        ..AbuseLimits::default()
    });
    let (limiter, _) = limiter(limits);
    let client = ip("198.51.100.1");
    for _ in 0..2 {
        limiter
            .admit_create(client, Some("a.myshopify.com"))
            .await
            .unwrap()
            .settle(true)
            .await;
    }
    let refused = limiter
        .admit_create(client, Some("a.myshopify.com"))
        .await
        .err()
        .expect("shop quota");
    assert!(
        matches!(
            refused,
            Refusal::QuotaExhausted {
                scope: QuotaScope::Shop,
                ..
            }
        ),
        "{refused:?}"
    );
    assert!(
        limiter
            .admit_create(client, Some("b.myshopify.com"))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn checks_have_their_own_bucket() {
    let (limiter, _) = limiter(AbuseLimits::default());
    let client = ip("198.51.100.1");
    for _ in 0..3 {
        limiter
            .admit_create(client, None)
            .await
            .unwrap()
            .settle(true)
            .await;
    }
    for i in 0..10 {
        assert!(limiter.admit_check(client).await.is_ok(), "check {i}");
    }
    assert_eq!(
        limiter.admit_check(client).await.err().map(|r| r.code()),
        Some(ErrorCode::RateLimited)
    );
}

#[tokio::test]
async fn relayed_shoppers_of_one_relay_have_buckets_of_their_own_within_their_shop() {
    let (limiter, _) = limiter(AbuseLimits::default());
    let shopper = |shop: &str, n: u8| Client::Relayed {
        shop: shop.into(),
        shopper: ip(&format!("198.51.100.{n}")),
    };
    for n in 0..20 {
        limiter
            .admit_create(shopper("a.myshopify.com", n), Some("a.myshopify.com"))
            .await
            .unwrap_or_else(|e| panic!("shopper {n}: {e}"))
            .settle(true)
            .await;
    }
    for _ in 0..2 {
        limiter
            .admit_create(shopper("a.myshopify.com", 0), Some("a.myshopify.com"))
            .await
            .unwrap();
    }
    assert!(
        limiter
            .admit_create(shopper("a.myshopify.com", 0), Some("a.myshopify.com"))
            .await
            .is_err(),
        "one shopper past the burst"
    );
    assert!(
        limiter
            .admit_create(shopper("b.myshopify.com", 0), Some("b.myshopify.com"))
            .await
            .is_ok(),
        "the same address in another shop is another shopper"
    );
    assert!(
        limiter.admit_create(ip("198.51.100.0"), None).await.is_ok(),
        "and so is the address on its own"
    );
}

#[tokio::test]
async fn replays_take_tokens_of_their_own_bucket() {
    let (limiter, clock) = limiter(AbuseLimits {
        replay: BucketRule {
            burst: 2,
            period: Duration::from_secs(5),
        },
        ..AbuseLimits::default()
    });
    let client = ip("198.51.100.1");
    assert!(limiter.admit_replay(client).await.is_ok());
    assert!(limiter.admit_replay(client).await.is_ok());
    let refused = limiter.admit_replay(client).await.unwrap_err();
    assert_eq!(
        (refused.code(), refused.retry_after_secs()),
        (ErrorCode::RateLimited, 5)
    );
    clock.advance(Duration::from_secs(5));
    assert!(limiter.admit_replay(client).await.is_ok());
    assert!(
        limiter.admit_create(client, None).await.is_ok(),
        "replays spend no create tokens"
    );
}

#[tokio::test]
async fn paid_checks_count_as_their_share_of_a_try_on() {
    let (limiter, _) = limiter(generous_bucket(AbuseLimits {
        shop_daily_quota: Some(2),
        daily_budget: Some(3),
        ..AbuseLimits::default()
    }));
    let half = Cost::of_try_ons(0.5).expect("a paid check");
    assert_eq!(half.halves(), 1);
    assert_eq!(
        Cost::of_try_ons(0.3).map(Cost::halves),
        Some(1),
        "rounded up"
    );
    assert_eq!(Cost::of_try_ons(0.0), None, "free checks are not counted");
    let shop = Some("a.myshopify.com");
    // One try-on and two half-priced checks spend a shop quota of two try-ons.
    limiter
        .admit_create(ip("198.51.100.1"), shop)
        .await
        .unwrap()
        .settle(true)
        .await;
    for _ in 0..2 {
        limiter.charge(shop, half).await.unwrap().settle(true).await;
    }
    let refused = limiter.charge(shop, half).await.err().expect("shop spent");
    assert!(
        matches!(
            refused,
            Refusal::QuotaExhausted {
                scope: QuotaScope::Shop,
                ..
            }
        ),
        "{refused:?}"
    );
    // A check the vendor did not bill gives its half back; the budget (3 try-ons, 6 halves)
    // has spent 4, then 5.
    limiter
        .charge(None, half)
        .await
        .unwrap()
        .settle(false)
        .await;
    limiter.charge(None, half).await.unwrap().settle(true).await;
    assert!(
        limiter
            .admit_create(ip("198.51.100.2"), None)
            .await
            .is_err(),
        "half a try-on left is not enough for a try-on"
    );
    limiter.charge(None, half).await.unwrap().settle(true).await;
    assert!(
        limiter.charge(None, half).await.is_err(),
        "budget of 3 spent"
    );
}
