//! Opening a payment order ("pay"), answering the open one again, and "I have paid, refresh".

use baoming_core::api::error::ErrorCode;
use baoming_core::api::payments::{
    PaymentAnswer, PaymentRefreshAnswer, PlatformTradeStatus, RefreshedPayment,
};
use baoming_core::catalog::ExamSession;
use baoming_core::document::DocumentId;
use baoming_core::lifecycle::Status;
use time::OffsetDateTime;

use super::super::gateway::{GatewayError, OrderRequest, TradeStatus};
use super::{Observed, Order, OrderState, Payments, call, load_order, platform_down, staged};
use crate::payments::PaymentError;
use crate::refusal::Refusal;
use crate::registration::idempotency::{Idempotency, key_required, replay, stage_answer};
use crate::registration::lifecycle::Action;
use crate::registration::record::{RegistrationRecord, load_record};
use crate::store::audit::{Actor, AuditEvent};
use crate::store::{CommitError, Txn};

/// The platform's trade state as the contract spells it.
fn platform_status_of(s: TradeStatus) -> PlatformTradeStatus {
    match s {
        TradeStatus::WaitBuyerPay => PlatformTradeStatus::WaitBuyerPay,
        TradeStatus::Success => PlatformTradeStatus::TradeSuccess,
        TradeStatus::Finished => PlatformTradeStatus::TradeFinished,
        TradeStatus::Closed => PlatformTradeStatus::TradeClosed,
    }
}

/// The payment deadline of `record` at `now`, or why nothing can be paid.
fn payable_until(record: &RegistrationRecord, now: i64) -> Result<i64, Refusal> {
    match record.section.deadline_ms {
        Some(d) if d > now => Ok(d),
        _ if matches!(record.section.status, Status::Paid | Status::Confirmed) => {
            Err(Refusal::conflict(ErrorCode::AlreadyPaid, "already paid"))
        }
        Some(_) => Err(Refusal::conflict(ErrorCode::DeadlinePassed, "the payment deadline has passed")),
        None => Err(Refusal::conflict(
            ErrorCode::PaymentNotDue,
            "no payment is due for this registration (it may need the center's approval first)",
        )
        .detail(|b| b.status = Some(record.section.status))),
    }
}

impl Payments {
    /// `POST /api/registrations/{exam}/pay`: opens the registration's payment order, or answers
    /// the open one again, with the payment page's URL. `key` is the request's
    /// `Idempotency-Key` (required) and `body` the body it fingerprints.
    pub async fn pay(
        &self,
        account: &str,
        exam_id: &str,
        key: Option<&str>,
        body: &[u8],
    ) -> Result<PaymentAnswer, PaymentError> {
        let view = self.regs.catalogs().require().map_err(crate::registration::RegistrationError::from)?;
        let exam = view.session(exam_id).map_err(crate::registration::RegistrationError::from)?;
        let key = key.ok_or_else(key_required)?;
        let idem = Idempotency::new(account, key, &format!("pay\0{exam_id}"), body)?;
        if let Some(body) = replay(self.db.store(), &idem)? {
            return Ok(body);
        }
        let id = DocumentId::derive(exam_id, account);
        let live = self.regs.open(id, account, exam_id).await?;
        let (record, _) = load_record(self.db.store(), &id)?
            .ok_or_else(|| Refusal::conflict(ErrorCode::NotSubmitted, "submit the registration first"))?;
        let now = self.now_ms();
        // The open order is reused while it can still be paid.
        if record.section.status == Status::AwaitingPayment
            && let Some(no) = &record.section.order
            && let Some((o, _)) = load_order(self.db.store(), no)?
            && o.state == OrderState::Open
            && o.expires_at_ms > now
        {
            return self.store_answer(&idem, self.answer(&id, exam_id)?).await;
        }
        let order = self.open_order(&id, account, exam, &record, now).await?;
        let action = Action::StartPayment { order: order.out_trade_no.clone(), staged: staged(&order, None) };
        self.regs.act(&live, Actor::Account(account.to_owned()), None, action).await?;
        self.store_answer(&idem, self.answer(&id, exam_id)?).await
    }

    /// Opens a new order at the platform for `record`'s fee, payable until its deadline.
    async fn open_order(
        &self,
        id: &DocumentId,
        account: &str,
        exam: &ExamSession,
        record: &RegistrationRecord,
        now: i64,
    ) -> Result<Order, PaymentError> {
        let deadline = payable_until(record, now)?;
        let amount_fen = record
            .section
            .amount_fen
            .or_else(|| exam.fee_fen(&record.center, &record.subjects))
            .filter(|f| *f > 0)
            .ok_or_else(|| Refusal::conflict(ErrorCode::NoFee, "the chosen subjects have no fee to pay"))?;
        let gw = self.gateway()?;
        let random: [u8; 6] = crate::store::crypto::random_array();
        let no = format!("BM{now}{}", hex::encode(random));
        let expires_at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(deadline) * 1_000_000)
            .map_err(|e| PaymentError::Internal(e.to_string()))?;
        let request = OrderRequest {
            out_trade_no: no.clone(),
            amount_fen,
            subject: format!("{} 报名费", exam.name.zh),
            expires_at,
        };
        let checkout = call(&gw, move |g| g.create_order(&request)).await.map_err(|e| match e {
            e if e.is_transient() => platform_down(&e),
            e => PaymentError::Internal(format!("payment order: {e}")),
        })?;
        Ok(Order {
            out_trade_no: no,
            document: id.to_string(),
            account: account.to_owned(),
            exam: exam.id.clone(),
            amount_fen,
            expires_at_ms: deadline,
            created_ms: now,
            checkout_url: checkout.url,
            state: OrderState::Open,
            trade_no: None,
            paid_at_ms: None,
            refund_reason: None,
            refunded_fen: 0,
        })
    }

    async fn store_answer(
        &self,
        idem: &Idempotency,
        body: PaymentAnswer,
    ) -> Result<PaymentAnswer, PaymentError> {
        let mut txn = Txn::new();
        stage_answer(&mut txn, idem, &body);
        match self.db.commit(txn, AuditEvent::new(Actor::System, "payment.answer", "idempotency")).await {
            Ok(()) => Ok(body),
            Err(CommitError::Precondition(_)) => replay(self.db.store(), idem)?.ok_or(PaymentError::Busy),
            Err(e) => Err(e.into()),
        }
    }

    /// `POST /api/registrations/{exam}/payment/refresh`: asks the platform about the current
    /// order and applies what it says.
    pub async fn refresh(&self, account: &str, exam_id: &str) -> Result<PaymentRefreshAnswer, PaymentError> {
        let id = self.regs.candidate_doc(account, exam_id)?;
        let no = load_record(self.db.store(), &id)?
            .and_then(|(r, _)| r.section.order)
            .ok_or_else(|| Refusal::conflict(ErrorCode::NoOrder, "no payment order has been opened"))?;
        let gw = self.gateway()?;
        let q = no.clone();
        let mut platform_status = None;
        match call(&gw, move |g| g.query(&q)).await {
            Ok(trade) => {
                platform_status = Some(platform_status_of(trade.status));
                self.apply(&no, &Observed::from(trade)).await?;
            }
            // The page was never opened: nothing to apply.
            Err(GatewayError::TradeNotFound) => {}
            Err(e) if e.is_transient() => return Err(platform_down(&e)),
            Err(e) => return Err(PaymentError::Internal(format!("payment query: {e}"))),
        }
        let answer = self.answer(&id, exam_id)?;
        Ok(PaymentRefreshAnswer {
            registration: answer.registration,
            payment: answer.payment.map(|order| RefreshedPayment { order, platform_status }),
        })
    }
}
