// The status screen: where the registration stands as a timeline, the payment deadline with
// the time left, what is still missing before submitting, the queued actions and their
// answers; actions: sync, submit, withdraw.
package org.baoming.demo.viewmodel

import java.util.concurrent.CompletableFuture
import org.baoming.client.ActionOutcomeInfo
import org.baoming.client.BaomingClient
import org.baoming.client.BaomingException
import org.baoming.client.StatusInfo
import org.baoming.client.SyncSummary
import org.baoming.client.ValidationIssue

/** Where a step of the timeline is. */
enum class StepState { DONE, CURRENT, TODO, FAILED }

/** One step of the timeline. */
data class Step(val status: String, val zh: String, val en: String, val state: StepState)

/** The status screen. */
data class StatusState(
    val status: StatusInfo? = null,
    /** The status is the last synced one (the server could not be asked). */
    val offline: Boolean = false,
    val timeline: List<Step> = emptyList(),
    /** What still stops a submission (from the validator). */
    val missing: List<ValidationIssue> = emptyList(),
    val queued: List<String> = emptyList(),
    /** The last answer to a queued action, in words. */
    val lastOutcome: String? = null,
    val lastSyncMs: Long? = null,
    val busy: Boolean = false,
    val error: UserMessage? = null,
) {
    /** Time left to pay at [nowMs], e.g. `47 h 59 min`, or `null` without a deadline. */
    fun remaining(nowMs: Long): String? {
        val deadline = status?.deadlineMs ?: return null
        val left = (deadline - nowMs).coerceAtLeast(0) / 60_000
        return if (left >= 60) "${left / 60} h ${left % 60} min" else "$left min"
    }
}

private val LABELS = mapOf(
    "draft" to ("填写中" to "Draft"),
    "submitted" to ("已提交" to "Submitted"),
    "under_review" to ("审核中" to "Under review"),
    "approved" to ("审核通过" to "Approved"),
    "awaiting_payment" to ("待缴费" to "Awaiting payment"),
    "paid" to ("已缴费" to "Paid"),
    "confirmed" to ("现场确认" to "Confirmed"),
    "rejected" to ("审核未通过" to "Rejected"),
    "expired" to ("已过期" to "Expired"),
    "withdrawn" to ("已撤回" to "Withdrawn"),
    "cancelled" to ("已取消" to "Cancelled"),
)

/** The Chinese and English names of a status. */
fun statusLabel(status: String): Pair<String, String> = LABELS[status] ?: (status to status)

/**
 * The timeline for [status] at a center that [review]s or not and requires an [onsite]
 * confirmation or not: the usual path, with the current step marked; an ending off the path
 * (rejected, expired, …) is shown failed.
 */
fun timeline(status: String, review: Boolean, onsite: Boolean): List<Step> {
    val path = listOfNotNull(
        "draft", "submitted",
        "under_review".takeIf { review }, "approved".takeIf { review },
        "paid", "confirmed".takeIf { onsite || status == "confirmed" },
    )
    val at = when (status) {
        "awaiting_payment" -> path.indexOf("paid") - 1
        else -> path.indexOf(status)
    }
    if (at < 0) {
        val done = path.take(2).map { s -> statusLabel(s).let { Step(s, it.first, it.second, StepState.DONE) } }
        return done + statusLabel(status).let { Step(status, it.first, it.second, StepState.FAILED) }
    }
    return path.mapIndexed { i, s ->
        val (zh, en) = statusLabel(s)
        Step(s, zh, en, if (i < at) StepState.DONE else if (i == at) StepState.CURRENT else StepState.TODO)
    }
}

/** Shows and moves the registration: sync, submit, withdraw. */
class StatusViewModel(private val client: BaomingClient, background: Background) :
    ExamScreenViewModel<StatusState>(StatusState(), background) {

    /** Reads the status from the server (offline: as of the last sync). */
    fun refresh(): CompletableFuture<StatusInfo> = launch(
        busy = { it.copy(busy = true) },
        work = { read() },
        done = { _, s -> s.copy(busy = false) },
        failed = { s, m -> s.copy(busy = false, error = m) },
    ).thenApply { it.status!! }

    /** Same as [refresh] (the app calls it when the exam is picked). */
    fun reload() = refresh()

    /** Syncs now (uploads the photo and edits, sends the queued actions), then reads the status. */
    fun sync(): CompletableFuture<SyncSummary> = launch(
        busy = { it.copy(busy = true, error = null) },
        work = {
            val summary = client.syncNow(60_000u)
            summary to read()
        },
        done = { _, (summary, s) -> s.copy(busy = false, lastSyncMs = System.currentTimeMillis(), lastOutcome = summary.actionsFinished.lastOrNull()?.let(::describe) ?: s.lastOutcome) },
        failed = { s, m -> s.copy(busy = false, error = m) },
    ).thenApply { it.first }

    /** Queues the submission and syncs at once when online. */
    fun submit(): CompletableFuture<SyncSummary?> = queue { client.submit(exam()) }

    /** Queues a withdrawal (releases the seats) and syncs at once when online. */
    fun withdraw(): CompletableFuture<SyncSummary?> = queue { client.withdraw(exam()) }

    private fun queue(action: () -> Unit): CompletableFuture<SyncSummary?> = launch(
        busy = { it.copy(busy = true, error = null) },
        work = {
            action()
            val summary = try {
                client.syncNow(60_000u)
            } catch (e: BaomingException.Network) {
                null // queued; sent by the next sync
            }
            summary to read()
        },
        done = { _, (summary, s) -> s.copy(busy = false, lastOutcome = summary?.actionsFinished?.lastOrNull()?.let(::describe)) },
        failed = { s, m -> s.copy(busy = false, error = m) },
    ).thenApply { it.first }

    /** The server's status changed (listener event): read it again. */
    fun onStatusChanged(status: String, reason: String?, deadlineMs: Long?) {
        state.update { s -> s.status?.let { s.copy(status = it.copy(status = status, reason = reason, deadlineMs = deadlineMs)) } ?: s }
        if (examId != null) refresh()
    }

    /** A queued action got its answer (listener event). */
    fun onActionFinished(outcome: ActionOutcomeInfo) = state.update { it.copy(lastOutcome = describe(outcome)) }

    /** The state from the server (or the device), the validator and the outbox (worker thread). */
    private fun read(): StatusState {
        val exam = exam()
        val (status, offline) = try {
            client.status(exam) to false
        } catch (e: BaomingException.Network) {
            client.localStatus(exam) to true
        }
        val info = client.exam(exam)
        val centerId = status.center ?: client.draft(exam).center
        val review = info.centers.firstOrNull { it.id == centerId }?.review ?: false
        // Whether the center wants an on-site confirmation after payment (its rule is online).
        val onsite = !offline && status.center != null &&
            runCatching { client.announcements(exam).onsiteRequired }.getOrDefault(false)
        return StatusState(
            status = status,
            offline = offline,
            timeline = timeline(status.status, review, onsite),
            missing = if (status.status == "draft") client.validate(exam) else emptyList(),
            queued = client.queuedActions().map { it.action },
            lastOutcome = current.lastOutcome,
            lastSyncMs = current.lastSyncMs,
        )
    }

    private fun describe(o: ActionOutcomeInfo): String =
        if (o.done) "${o.action}: ${o.status?.status}" else "${o.action} refused: ${o.refusalCode} ${o.refusalMessage ?: ""}".trim()
}
