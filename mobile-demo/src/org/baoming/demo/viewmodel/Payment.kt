// After submitting: the center's announcements, paying (the platform's page opened in the
// browser, then "I have paid, refresh"), and the documents (registration form and admission
// ticket PDFs).
package org.baoming.demo.viewmodel

import java.io.File
import java.util.concurrent.CompletableFuture
import org.baoming.client.AnnouncementsInfo
import org.baoming.client.BaomingClient
import org.baoming.client.BaomingException
import org.baoming.client.PaymentInfo
import org.baoming.client.StatusInfo

/**
 * The notices of the candidate's center for [examId] (none before a center is chosen and
 * synced, or offline) and its on-site confirmation rule.
 */
internal fun centerNotices(client: BaomingClient, examId: String): List<Notice> {
    val a: AnnouncementsInfo = try {
        client.announcements(examId)
    } catch (e: BaomingException.Network) {
        return emptyList()
    }
    val onsite = if (a.onsiteRequired && a.onsiteNoticeZh != null) {
        listOf(Notice("现场确认", a.onsiteNoticeZh!!, a.onsiteOpensMs))
    } else emptyList()
    return a.notices.map { Notice(it.title, it.body, it.opensMs) } + onsite
}

/** The payment screen. */
data class PaymentState(
    val status: StatusInfo? = null,
    /** The open order: its page, amount and expiry. */
    val order: PaymentInfo? = null,
    /** Set when the app asked the platform to open the page (the UI opens the browser). */
    val pageOpened: Boolean = false,
    val busy: Boolean = false,
    val error: UserMessage? = null,
) {
    val paid: Boolean get() = status?.status in setOf("paid", "confirmed")
}

/** Opens the payment order and checks whether it was paid. */
class PaymentViewModel(private val client: BaomingClient, background: Background) :
    ExamScreenViewModel<PaymentState>(PaymentState(), background) {

    /** Reads the registration's status. */
    fun reload(): CompletableFuture<Unit> = launch(
        busy = { it.copy(busy = true) },
        work = { client.status(exam()) },
        done = { s, st -> s.copy(busy = false, status = st, error = null) },
        failed = { s, m -> s.copy(busy = false, error = m) },
    ).thenApply { }

    /** Opens (or finds again) the payment order: its page URL, amount and expiry. */
    fun pay(): CompletableFuture<PaymentInfo> = launch(
        busy = { it.copy(busy = true, error = null) },
        work = { client.pay(exam()) },
        done = { s, order -> s.copy(busy = false, order = order, status = order.status, pageOpened = true) },
        failed = { s, m -> s.copy(busy = false, error = m) },
    )

    /** "I have paid, refresh": asks the server to ask the platform. */
    fun refresh(): CompletableFuture<StatusInfo> = launch(
        busy = { it.copy(busy = true, error = null) },
        work = { client.refreshPayment(exam()) },
        done = { s, st -> s.copy(busy = false, status = st) },
        failed = { s, m -> s.copy(busy = false, error = m) },
    )

    /** The status changed (listener event). */
    fun onStatusChanged(status: String) {
        if (examId != null && status in setOf("paid", "confirmed", "expired", "cancelled")) reload()
    }
}

/** A downloaded document. */
data class SavedDocument(val titleZh: String, val file: File, val bytes: Int)

/** The documents screen. */
data class DocumentsState(
    val status: String? = null,
    val ticketNumber: String? = null,
    val saved: List<SavedDocument> = emptyList(),
    val busy: Boolean = false,
    val error: UserMessage? = null,
)

/** Downloads the registration form and the admission ticket into [folder]. */
class DocumentsViewModel(private val client: BaomingClient, background: Background, private val folder: File) :
    ExamScreenViewModel<DocumentsState>(DocumentsState(), background) {

    /** Reads the status (which documents can exist). */
    fun reload(): CompletableFuture<Unit> = launch(
        busy = { it.copy(busy = true) },
        work = { client.status(exam()) },
        done = { s, st -> s.copy(busy = false, status = st.status, ticketNumber = st.ticketNumber, error = null) },
        failed = { s, m -> s.copy(busy = false, error = m) },
    ).thenApply { }

    /** Downloads the registration form (报名登记表), available once paid. */
    fun registrationForm(): CompletableFuture<SavedDocument> =
        download("报名登记表", "registration-form-${exam()}.pdf") { client.registrationFormPdf(exam()) }

    /** Downloads the admission ticket (准考证), inside the printing window. */
    fun admissionTicket(): CompletableFuture<SavedDocument> =
        download("准考证", "admission-ticket-${exam()}.pdf") { client.admissionTicketPdf(exam()) }

    private fun download(title: String, name: String, fetch: () -> ByteArray): CompletableFuture<SavedDocument> = launch(
        busy = { it.copy(busy = true, error = null) },
        work = {
            val bytes = fetch()
            folder.mkdirs()
            val file = File(folder, name)
            file.writeBytes(bytes)
            SavedDocument(title, file, bytes.size)
        },
        done = { s, doc -> s.copy(busy = false, saved = s.saved.filter { it.file != doc.file } + doc) },
        failed = { s, m -> s.copy(busy = false, error = m) },
    )
}
