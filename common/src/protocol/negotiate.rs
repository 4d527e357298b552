// SPDX-License-Identifier: GPL-2.0

//! Queue-count negotiation rules of the multi-queue netif protocol.

/// Upper bound of the default queue count of both Linux drivers.
pub const DEFAULT_MAX_QUEUES_CAP: u32 = 8;

/// Default `max_queues` of both drivers: `min(8, online CPUs)`, at least 1.
pub const fn default_max_queues(online_cpus: u32) -> u32 {
    let n = if online_cpus < DEFAULT_MAX_QUEUES_CAP {
        online_cpus
    } else {
        DEFAULT_MAX_QUEUES_CAP
    };
    if n == 0 {
        1
    } else {
        n
    }
}

/// The `max_queues` module parameter's effective value: 0 means "the default".
pub const fn effective_max_queues(param: u32, online_cpus: u32) -> u32 {
    if param == 0 {
        default_max_queues(online_cpus)
    } else {
        param
    }
}

/// Frontend rule: the queue count to request, given the backend's
/// `multi-queue-max-queues` (`None` when absent) and the frontend's own maximum.
pub const fn frontend_queue_count(backend_max: Option<u32>, frontend_max: u32) -> u32 {
    let be = match backend_max {
        Some(0) | None => 1,
        Some(n) => n,
    };
    let n = if be < frontend_max { be } else { frontend_max };
    if n == 0 {
        1
    } else {
        n
    }
}

/// Frontend rule for a queue count chosen with `ethtool -L`: `requested` (0: none chosen,
/// use `limit`) capped at `limit`, the most the backend and the frontend allow
/// ([`frontend_queue_count`] with the frontend's own maximum). A count chosen against a
/// backend that allowed more is kept and applies again, in full, once a backend allows it.
pub const fn frontend_requested_count(requested: u32, limit: u32) -> u32 {
    let limit = if limit == 0 { 1 } else { limit };
    if requested == 0 || requested > limit {
        limit
    } else {
        requested
    }
}

/// Why a frontend refuses an `ethtool -L` request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChannelRequestError {
    /// Separate RX, TX or other channels: a netif queue is one TX and one RX ring, so only
    /// combined channels exist.
    NotCombined,
    /// No combined channel.
    Zero,
    /// More combined channels than the backend and the frontend allow.
    TooMany {
        /// What was asked for.
        requested: u32,
        /// The limit: min(the backend's `multi-queue-max-queues`, the frontend's maximum).
        max: u32,
    },
}

impl core::fmt::Display for ChannelRequestError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::NotCombined => f.write_str("only combined channels can be set (rx, tx and other must be 0)"),
            Self::Zero => f.write_str("0 combined channels requested; at least 1 is needed"),
            Self::TooMany { requested, max } => write!(
                f,
                "{requested} combined channels requested; at most {max} (the backend's multi-queue-max-queues and max_queues allow no more)"
            ),
        }
    }
}

/// Frontend rule: validates an `ethtool -L` request (`combined`, `rx`, `tx`, `other`
/// channel counts) against `limit` ([`frontend_requested_count`]); the queue count to use.
pub const fn check_channel_request(
    combined: u32,
    rx: u32,
    tx: u32,
    other: u32,
    limit: u32,
) -> Result<u32, ChannelRequestError> {
    if rx != 0 || tx != 0 || other != 0 {
        Err(ChannelRequestError::NotCombined)
    } else if combined == 0 {
        Err(ChannelRequestError::Zero)
    } else if combined > limit {
        Err(ChannelRequestError::TooMany {
            requested: combined,
            max: limit,
        })
    } else {
        Ok(combined)
    }
}

/// Whether the frontend writes `multi-queue-num-queues` at all: Linux netfront writes it
/// only when the backend advertised `multi-queue-max-queues`.
pub const fn frontend_writes_queue_count(backend_max: Option<u32>) -> bool {
    backend_max.is_some()
}

/// Why a backend refuses a frontend's `multi-queue-num-queues`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueCountError {
    /// The frontend asked for 0 queues.
    Zero,
    /// The frontend asked for more than the backend advertised.
    TooMany {
        /// What the frontend asked for.
        requested: u32,
        /// What the backend advertised.
        max: u32,
    },
}

/// Backend rule: validates `multi-queue-num-queues` (`None` when absent, meaning 1)
/// against the maximum the backend advertised for this device.
pub const fn backend_queue_count(
    requested: Option<u32>,
    advertised_max: u32,
) -> Result<u32, QueueCountError> {
    match requested {
        None => Ok(1),
        Some(0) => Err(QueueCountError::Zero),
        Some(n) if n > advertised_max => Err(QueueCountError::TooMany {
            requested: n,
            max: advertised_max,
        }),
        Some(n) => Ok(n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_online_cpus_capped_at_8() {
        assert_eq!(default_max_queues(1), 1);
        assert_eq!(default_max_queues(2), 2);
        assert_eq!(default_max_queues(8), 8);
        assert_eq!(default_max_queues(64), 8);
        assert_eq!(default_max_queues(0), 1);
        assert_eq!(effective_max_queues(0, 2), 2);
        assert_eq!(effective_max_queues(4, 2), 4);
    }

    #[test]
    fn frontend_takes_the_minimum() {
        assert_eq!(frontend_queue_count(Some(4), 8), 4);
        assert_eq!(frontend_queue_count(Some(2), 8), 2);
        assert_eq!(frontend_queue_count(Some(4), 1), 1);
        assert_eq!(frontend_queue_count(None, 8), 1);
        assert_eq!(frontend_queue_count(Some(0), 8), 1);
        assert!(!frontend_writes_queue_count(None));
        assert!(frontend_writes_queue_count(Some(1)));
    }

    #[test]
    fn ethtool_request_is_capped_by_the_limit() {
        // No request: the limit (min of backend and frontend maxima).
        assert_eq!(frontend_requested_count(0, 4), 4);
        assert_eq!(frontend_requested_count(1, 4), 1);
        assert_eq!(frontend_requested_count(2, 4), 2);
        assert_eq!(frontend_requested_count(4, 4), 4);
        // A backend that now allows fewer: capped, the request kept by the caller.
        assert_eq!(frontend_requested_count(4, 2), 2);
        // No valid limit: one queue.
        assert_eq!(frontend_requested_count(3, 0), 1);
        assert_eq!(frontend_requested_count(0, 0), 1);
        let limit = frontend_queue_count(Some(4), 8);
        assert_eq!(frontend_requested_count(0, limit), 4);
        assert_eq!(frontend_queue_count(None, 8), 1);
    }

    #[test]
    fn ethtool_request_is_checked() {
        assert_eq!(check_channel_request(1, 0, 0, 0, 4), Ok(1));
        assert_eq!(check_channel_request(4, 0, 0, 0, 4), Ok(4));
        assert_eq!(
            check_channel_request(0, 0, 0, 0, 4),
            Err(ChannelRequestError::Zero)
        );
        assert_eq!(
            check_channel_request(5, 0, 0, 0, 4),
            Err(ChannelRequestError::TooMany {
                requested: 5,
                max: 4
            })
        );
        assert_eq!(
            check_channel_request(u32::MAX, 0, 0, 0, 8),
            Err(ChannelRequestError::TooMany {
                requested: u32::MAX,
                max: 8
            })
        );
        for (rx, tx, other) in [(1, 0, 0), (0, 1, 0), (0, 0, 1)] {
            assert_eq!(
                check_channel_request(2, rx, tx, other, 4),
                Err(ChannelRequestError::NotCombined)
            );
        }
        // The limit without a backend `multi-queue-max-queues`: 1.
        assert_eq!(
            check_channel_request(2, 0, 0, 0, frontend_queue_count(None, 4)),
            Err(ChannelRequestError::TooMany {
                requested: 2,
                max: 1
            })
        );
    }

    #[test]
    fn backend_validates_the_request() {
        assert_eq!(backend_queue_count(None, 4), Ok(1));
        assert_eq!(backend_queue_count(Some(1), 4), Ok(1));
        assert_eq!(backend_queue_count(Some(4), 4), Ok(4));
        assert_eq!(backend_queue_count(Some(0), 4), Err(QueueCountError::Zero));
        assert_eq!(
            backend_queue_count(Some(5), 4),
            Err(QueueCountError::TooMany {
                requested: 5,
                max: 4
            })
        );
        assert!(backend_queue_count(Some(u32::MAX), 8).is_err());
    }
}
