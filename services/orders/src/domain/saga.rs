//! The checkout saga as a pure state machine: given where an order's saga is and what just
//! happened (a reply, a deadline, the owner cancelling), what it becomes and which commands it
//! sends. No I/O: the orchestrator stores the result, the commands (through the outbox) and
//! the next deadline in one transaction.
//!
//! Forward: ReserveStock → ChargePayment → CommitStock → CONFIRMED. A failure compensates
//! backwards — RefundPayment if a charge may have been taken, ReleaseStock if stock may be
//! held — and ends CANCELLED with its reason once the stock is released. "May": after a
//! deadline the command may still land, so the compensation is sent anyway; catalog and
//! payments keep tombstones, so a compensation that overtakes its command makes the command
//! take nothing.
//!
//! The refund is not waited for: it goes out with the release, and the PAYMENTS stream holds
//! it until payments takes it (a payments outage must not keep stock held). Its reply is only
//! recorded.
//!
//! Committing stock is the point of no return: the payment is taken, and a commit that lands
//! after a release would sell stock for a cancelled order. So the commit is re-sent until it
//! is answered, and the owner can no longer cancel.
//!
//! A reply for a step the saga has left is ignored, except money or stock that arrives for a
//! saga that no longer wants it: a late PaymentCompleted is refunded, a late StockReserved
//! released (both idempotent downstream), so nothing is lost.

/// Where a saga is. `Confirmed` and `Cancelled` are final.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    ReservingStock,
    ChargingPayment,
    CommittingStock,
    /// Compensating: stock may be held (and a refund, if one was due, is on its way).
    ReleasingStock(Reason),
    Confirmed,
    Cancelled(Reason),
}

/// Why an order was cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    OutOfStock,
    PaymentDeclined,
    Timeout,
    UserCancelled,
}

/// What can happen to a saga.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    StockReserved,
    StockReservationFailed,
    StockReleased,
    StockCommitted,
    PaymentCompleted,
    PaymentFailed,
    PaymentRefunded,
    /// The current step's deadline passed with no reply.
    DeadlinePassed,
    /// The owner asked to cancel.
    CancelRequested,
}

/// A command the saga sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    ReserveStock,
    ChargePayment,
    CommitStock,
    ReleaseStock,
    RefundPayment,
}

/// What an input did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The saga moved (or stayed, re-sending): the new step and the commands to send. A new
    /// deadline starts for the new step unless it is final.
    Moved { step: Step, send: Vec<Command> },
    /// The input changes nothing (a duplicate, or a reply for a step already left).
    Ignored,
    /// The input is not allowed now (the owner cancelling after the point of no return).
    Refused(&'static str),
}

impl Step {
    /// Where a new saga starts, and what it sends first.
    pub fn start() -> (Self, Command) {
        (Self::ReservingStock, Command::ReserveStock)
    }

    pub fn is_final(self) -> bool {
        matches!(self, Self::Confirmed | Self::Cancelled(_))
    }

    /// See the module docs.
    pub fn on(self, input: Input) -> Outcome {
        use Command as C;
        use Input as I;
        use Step as S;
        let moved = |step, send: &[Command]| Outcome::Moved { step, send: send.to_vec() };
        match (self, input) {
            (S::ReservingStock, I::StockReserved) => moved(S::ChargingPayment, &[C::ChargePayment]),
            (S::ReservingStock, I::StockReservationFailed) => moved(S::Cancelled(Reason::OutOfStock), &[]),
            (S::ReservingStock, I::DeadlinePassed) => moved(S::ReleasingStock(Reason::Timeout), &[C::ReleaseStock]),
            (S::ReservingStock, I::CancelRequested) => {
                moved(S::ReleasingStock(Reason::UserCancelled), &[C::ReleaseStock])
            }

            (S::ChargingPayment, I::PaymentCompleted) => moved(S::CommittingStock, &[C::CommitStock]),
            (S::ChargingPayment, I::PaymentFailed) => {
                moved(S::ReleasingStock(Reason::PaymentDeclined), &[C::ReleaseStock])
            }
            (S::ChargingPayment, I::DeadlinePassed) => {
                moved(S::ReleasingStock(Reason::Timeout), &[C::RefundPayment, C::ReleaseStock])
            }
            (S::ChargingPayment, I::CancelRequested) => {
                moved(S::ReleasingStock(Reason::UserCancelled), &[C::RefundPayment, C::ReleaseStock])
            }

            (S::CommittingStock, I::StockCommitted) => moved(S::Confirmed, &[]),
            (S::CommittingStock, I::DeadlinePassed) => moved(S::CommittingStock, &[C::CommitStock]),
            (S::CommittingStock | S::Confirmed, I::CancelRequested) => {
                Outcome::Refused("the order is confirmed (or being confirmed) and can no longer be cancelled")
            }

            (S::ReleasingStock(reason), I::StockReleased) => moved(S::Cancelled(reason), &[]),
            // A reservation that failed after its deadline holds nothing, and catalog answers
            // its release with the failure again: either way there is nothing left to give back.
            (S::ReleasingStock(reason), I::StockReservationFailed) => moved(S::Cancelled(reason), &[]),
            (S::ReleasingStock(reason), I::DeadlinePassed) => moved(S::ReleasingStock(reason), &[C::ReleaseStock]),

            // The refund's answer: recorded (whether money came back), nothing to send.
            (S::ReleasingStock(_) | S::Cancelled(_), I::PaymentRefunded) => moved(self, &[]),

            // Money or stock for a saga that no longer wants it. A charge that lands after
            // its refund was sent: payments took the refund first (and the charge then takes
            // nothing) or takes it now; asking again costs nothing and covers both.
            (S::ReleasingStock(_) | S::Cancelled(_), I::PaymentCompleted) => moved(self, &[C::RefundPayment]),
            (S::Cancelled(reason), I::StockReserved) => moved(S::Cancelled(reason), &[C::ReleaseStock]),

            // Cancelling twice, duplicates, and replies for steps already left.
            _ => Outcome::Ignored,
        }
    }
}

/// How steps, reasons, inputs and commands are stored and shown (the step log, the database).
impl Step {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ReservingStock => "RESERVING_STOCK",
            Self::ChargingPayment => "CHARGING_PAYMENT",
            Self::CommittingStock => "COMMITTING_STOCK",
            Self::ReleasingStock(_) => "RELEASING_STOCK",
            Self::Confirmed => "CONFIRMED",
            Self::Cancelled(_) => "CANCELLED",
        }
    }

    /// A stored step; `reason` is required by the compensating and cancelled steps.
    pub fn parse(step: &str, reason: Option<Reason>) -> Option<Self> {
        Some(match (step, reason) {
            ("RESERVING_STOCK", _) => Self::ReservingStock,
            ("CHARGING_PAYMENT", _) => Self::ChargingPayment,
            ("COMMITTING_STOCK", _) => Self::CommittingStock,
            ("RELEASING_STOCK", Some(r)) => Self::ReleasingStock(r),
            ("CONFIRMED", _) => Self::Confirmed,
            ("CANCELLED", Some(r)) => Self::Cancelled(r),
            _ => return None,
        })
    }

    /// Why the saga is being (or was) cancelled, once it is.
    pub fn reason(self) -> Option<Reason> {
        match self {
            Self::ReleasingStock(r) | Self::Cancelled(r) => Some(r),
            _ => None,
        }
    }
}

impl Reason {
    /// Every reason, for what must know them all (parsing, the counters' label values).
    pub const ALL: [Self; 4] = [Self::OutOfStock, Self::PaymentDeclined, Self::Timeout, Self::UserCancelled];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::OutOfStock => "OUT_OF_STOCK",
            Self::PaymentDeclined => "PAYMENT_DECLINED",
            Self::Timeout => "TIMEOUT",
            Self::UserCancelled => "USER_CANCELLED",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == raw)
    }
}

impl Input {
    pub fn name(self) -> &'static str {
        match self {
            Self::StockReserved => "StockReserved",
            Self::StockReservationFailed => "StockReservationFailed",
            Self::StockReleased => "StockReleased",
            Self::StockCommitted => "StockCommitted",
            Self::PaymentCompleted => "PaymentCompleted",
            Self::PaymentFailed => "PaymentFailed",
            Self::PaymentRefunded => "PaymentRefunded",
            Self::DeadlinePassed => "DeadlinePassed",
            Self::CancelRequested => "CancelOrder",
        }
    }

    /// `reply`, `deadline` or `request`, for the step log.
    pub fn kind(self) -> &'static str {
        match self {
            Self::DeadlinePassed => "deadline",
            Self::CancelRequested => "request",
            _ => "reply",
        }
    }
}

impl Command {
    pub fn name(self) -> &'static str {
        match self {
            Self::ReserveStock => "ReserveStock",
            Self::ChargePayment => "ChargePayment",
            Self::CommitStock => "CommitStock",
            Self::ReleaseStock => "ReleaseStock",
            Self::RefundPayment => "RefundPayment",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Command as C, Input as I, Outcome, Reason as R, Step as S};

    /// Feeds `inputs` from the start; returns the final step and every command sent.
    fn run(inputs: &[I]) -> (S, Vec<C>) {
        let (mut step, first) = S::start();
        let mut sent = vec![first];
        for input in inputs {
            if let Outcome::Moved { step: next, send } = step.on(*input) {
                step = next;
                sent.extend(send);
            }
        }
        (step, sent)
    }

    #[test]
    fn the_happy_path_reserves_charges_commits_and_confirms() {
        let (step, sent) = run(&[I::StockReserved, I::PaymentCompleted, I::StockCommitted]);
        assert_eq!(step, S::Confirmed);
        assert_eq!(sent, vec![C::ReserveStock, C::ChargePayment, C::CommitStock]);
    }

    #[test]
    fn out_of_stock_cancels_with_nothing_to_compensate() {
        assert_eq!(run(&[I::StockReservationFailed]), (S::Cancelled(R::OutOfStock), vec![C::ReserveStock]));
    }

    #[test]
    fn a_decline_releases_the_stock_then_cancels() {
        let (step, sent) = run(&[I::StockReserved, I::PaymentFailed, I::StockReleased]);
        assert_eq!(step, S::Cancelled(R::PaymentDeclined));
        assert_eq!(sent, vec![C::ReserveStock, C::ChargePayment, C::ReleaseStock]);
    }

    #[test]
    fn a_payment_timeout_refunds_and_releases_at_once_and_a_late_charge_is_refunded_again() {
        let (step, sent) = run(&[I::StockReserved, I::DeadlinePassed, I::StockReleased, I::PaymentCompleted]);
        assert_eq!(step, S::Cancelled(R::Timeout));
        assert_eq!(sent, vec![C::ReserveStock, C::ChargePayment, C::RefundPayment, C::ReleaseStock, C::RefundPayment]);
        // Payments being down does not keep the stock held: the release alone ends it.
        assert_eq!(run(&[I::StockReserved, I::DeadlinePassed, I::StockReleased]).0, S::Cancelled(R::Timeout));
    }

    #[test]
    fn a_reservation_that_fails_after_its_deadline_ends_the_release() {
        let (step, sent) = run(&[I::DeadlinePassed, I::StockReservationFailed]);
        assert_eq!(step, S::Cancelled(R::Timeout));
        assert_eq!(sent, vec![C::ReserveStock, C::ReleaseStock]);
    }

    #[test]
    fn a_reservation_timeout_releases_and_a_late_reservation_is_released_again() {
        let (step, sent) = run(&[I::DeadlinePassed, I::StockReleased, I::StockReserved]);
        assert_eq!(step, S::Cancelled(R::Timeout));
        assert_eq!(sent, vec![C::ReserveStock, C::ReleaseStock, C::ReleaseStock]);
    }

    #[test]
    fn the_owner_cancels_until_the_commit_and_not_after() {
        let (step, _) = run(&[I::CancelRequested, I::StockReleased]);
        assert_eq!(step, S::Cancelled(R::UserCancelled));
        let (step, sent) = run(&[I::StockReserved, I::CancelRequested, I::PaymentRefunded, I::StockReleased]);
        assert_eq!(step, S::Cancelled(R::UserCancelled));
        assert_eq!(sent, vec![C::ReserveStock, C::ChargePayment, C::RefundPayment, C::ReleaseStock]);
        let (step, _) = run(&[I::StockReserved, I::CancelRequested, I::StockReleased, I::PaymentRefunded]);
        assert_eq!(step, S::Cancelled(R::UserCancelled));
        assert!(matches!(S::CommittingStock.on(I::CancelRequested), Outcome::Refused(_)));
        assert!(matches!(S::Confirmed.on(I::CancelRequested), Outcome::Refused(_)));
    }

    #[test]
    fn the_commit_is_resent_until_answered_and_compensations_until_done() {
        assert_eq!(
            S::CommittingStock.on(I::DeadlinePassed),
            Outcome::Moved { step: S::CommittingStock, send: vec![C::CommitStock] }
        );
        let releasing = S::ReleasingStock(R::PaymentDeclined);
        assert_eq!(releasing.on(I::DeadlinePassed), Outcome::Moved { step: releasing, send: vec![C::ReleaseStock] });
    }

    #[test]
    fn duplicates_and_replies_for_steps_left_are_ignored() {
        for (step, input) in [
            (S::ChargingPayment, I::StockReserved),
            (S::CommittingStock, I::PaymentCompleted),
            (S::Confirmed, I::StockCommitted),
            (S::Confirmed, I::DeadlinePassed),
            (S::Cancelled(R::OutOfStock), I::StockReservationFailed),
            (S::Cancelled(R::UserCancelled), I::CancelRequested),
            (S::ReleasingStock(R::Timeout), I::PaymentFailed),
        ] {
            assert_eq!(step.on(input), Outcome::Ignored, "{step:?} on {input:?}");
        }
    }

    #[test]
    fn every_step_reads_back_as_stored() {
        for step in [
            S::ReservingStock,
            S::ChargingPayment,
            S::CommittingStock,
            S::ReleasingStock(R::PaymentDeclined),
            S::Confirmed,
            S::Cancelled(R::UserCancelled),
            S::Cancelled(R::OutOfStock),
        ] {
            let reason = step.reason().map(R::as_str).and_then(R::parse);
            assert_eq!(S::parse(step.as_str(), reason), Some(step));
        }
        assert_eq!(S::parse("CANCELLED", None), None);
        assert_eq!(S::parse("SHIPPED", None), None);
    }

    #[test]
    fn only_confirmed_and_cancelled_are_final() {
        assert!(S::Confirmed.is_final() && S::Cancelled(R::Timeout).is_final());
        assert!(!S::ReservingStock.is_final() && !S::ReleasingStock(R::Timeout).is_final());
    }
}
