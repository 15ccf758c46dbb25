// The center and subjects screen: the catalog's centers with their live free seats (asked of
// the server every few seconds while the screen is shown), the chosen center and subjects,
// their fees and the validator's complaints (slot conflicts, too many subjects).
package org.baoming.demo.viewmodel

import java.util.concurrent.CompletableFuture
import java.util.concurrent.ScheduledFuture
import org.baoming.client.BaomingClient
import org.baoming.client.BaomingException
import org.baoming.client.CenterSeatsInfo
import org.baoming.client.ExamInfo
import org.baoming.client.ValidationIssue

/** A center as listed. */
data class CenterRow(
    val id: String,
    val nameZh: String,
    val review: Boolean,
    /** Live free seats, `null` before the first answer (or offline). */
    val free: Int?,
    val capacity: Int?,
    val cancelled: Boolean,
)

/** A subject of the chosen center. */
data class SubjectRow(
    val code: String,
    val nameZh: String,
    val slot: String,
    val feeFen: Long,
    val free: Int?,
    val capacity: Int,
    val chosen: Boolean,
    /** The validator's complaint about this subject (e.g. `slot_conflict`). */
    val issue: ValidationIssue? = null,
)

/** The center and subjects screen. */
data class CenterState(
    val centers: List<CenterRow> = emptyList(),
    val center: String? = null,
    val subjects: List<SubjectRow> = emptyList(),
    val subjectCap: Int = 0,
    /** Issues about the center or the subjects as a whole. */
    val issues: List<ValidationIssue> = emptyList(),
    /** Subjects dropped because the new center does not offer them. */
    val dropped: List<String> = emptyList(),
    /** When the seats were last counted (Unix ms), `null` if never. */
    val seatsAtMs: Long? = null,
    val busy: Boolean = false,
    val error: UserMessage? = null,
) {
    /** Total fee of the chosen subjects, in fen. */
    val totalFen: Long get() = subjects.filter { it.chosen }.sumOf { it.feeFen }
}

/** Chooses the center and subjects, showing live seats. */
class CenterViewModel(private val client: BaomingClient, background: Background) :
    ExamScreenViewModel<CenterState>(CenterState(), background) {

    @Volatile
    private var exam: ExamInfo? = null

    @Volatile
    private var seats: List<CenterSeatsInfo> = emptyList()
    private var live: ScheduledFuture<*>? = null

    /** Reads the catalog, the draft and the seats. */
    fun reload(): CompletableFuture<Unit> = launch(
        busy = { it.copy(busy = true) },
        work = {
            exam = client.exam(exam())
            fetchSeats()
            build()
        },
        done = { _, s -> s },
        failed = { s, m -> s.copy(busy = false, error = m) },
    ).thenApply { }

    /** Asks the server for the free seats now (offline: keeps the last counts). */
    fun refreshSeats(): CompletableFuture<Unit> = launch(
        busy = { it },
        work = {
            fetchSeats()
            build()
        },
        done = { s, built -> built.copy(dropped = s.dropped) },
        failed = { s, m -> s.copy(error = m) },
    ).thenApply { }

    /** Counts the seats every [periodMs] while the screen is shown. */
    fun startLiveSeats(periodMs: Long) {
        stopLiveSeats()
        if (examId != null) live = background.every(periodMs) { runCatching { refreshSeats() } }
    }

    /** Stops counting. */
    fun stopLiveSeats() {
        live?.cancel(false)
        live = null
    }

    /** Chooses the center (subjects it does not offer are dropped and listed). */
    fun choose(centerId: String): CompletableFuture<List<String>> = launch(
        busy = { it.copy(busy = true, error = null) },
        work = { client.chooseCenter(exam(), centerId) to build() },
        done = { _, (dropped, built) -> built.copy(dropped = dropped) },
        failed = { s, m -> s.copy(busy = false, error = m) },
    ).thenApply { it.first }

    /** Adds or removes a subject. */
    fun toggle(code: String): CompletableFuture<Unit> = launch(
        busy = { it.copy(busy = true, error = null) },
        work = {
            if (code in client.draft(exam()).subjects) client.removeSubject(exam(), code) else client.addSubject(exam(), code)
            build()
        },
        done = { s, built -> built.copy(dropped = s.dropped) },
        failed = { s, m -> s.copy(busy = false, error = m) },
    ).thenApply { }

    private fun fetchSeats() {
        try {
            seats = client.seats(exam())
            seatsAt = System.currentTimeMillis()
        } catch (e: BaomingException.Network) {
            // Offline: the last counts stay; the screen says when they were taken.
        }
    }

    @Volatile
    private var seatsAt: Long? = null

    /** The state from the catalog, the draft, the seats and the validator (worker thread). */
    private fun build(): CenterState {
        val exam = this.exam ?: client.exam(exam()).also { this.exam = it }
        val draft = client.draft(exam.id)
        val issues = client.validate(exam.id)
        val byCenter = seats.associateBy { it.center }
        val centers = exam.centers.map { c ->
            val s = byCenter[c.id]
            CenterRow(c.id, c.nameZh, c.review, s?.free?.toInt(), s?.capacity?.toInt(), s?.cancelled ?: false)
        }
        val chosen = exam.centers.firstOrNull { it.id == draft.center }
        val subjectSeats = byCenter[draft.center]?.subjects?.associateBy { it.code } ?: emptyMap()
        val subjects = chosen?.subjects?.map { s ->
            SubjectRow(
                s.code, s.nameZh, s.slot, s.feeFen, subjectSeats[s.code]?.free?.toInt(), s.capacity.toInt(),
                s.code in draft.subjects, issues.firstOrNull { it.path == "draft.subjects.${s.code}" },
            )
        } ?: emptyList()
        return CenterState(
            centers = centers,
            center = draft.center,
            subjects = subjects,
            subjectCap = exam.subjectCap.toInt(),
            issues = issues.filter { it.path == "draft.center" || it.path == "draft.subjects" },
            seatsAtMs = seatsAt,
        )
    }
}
