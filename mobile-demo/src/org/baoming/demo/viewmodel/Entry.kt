// The first screens: log in (with the captcha when the server asks), the announcements of
// the cached catalog, and the exam's agreement.
package org.baoming.demo.viewmodel

import java.util.concurrent.CompletableFuture
import org.baoming.client.BaomingClient
import org.baoming.client.BaomingException
import org.baoming.client.SessionInfo

/** The login screen. */
data class LoginState(
    val login: String = "",
    val password: String = "",
    /** Set when the server asked for a captcha: show [captchaPng]. */
    val captchaId: String? = null,
    val captchaPng: ByteArray? = null,
    val captchaAnswer: String = "",
    val busy: Boolean = false,
    val error: UserMessage? = null,
    val signedIn: Boolean = false,
)

/** Logs the candidate in or registers them; [onSignedIn] moves the app on. */
class LoginViewModel(
    private val client: BaomingClient,
    background: Background,
    private val onSignedIn: (SessionInfo) -> Unit,
) : ScreenViewModel<LoginState>(LoginState(), background) {

    /** The candidate typed. */
    fun edit(login: String = current.login, password: String = current.password, captchaAnswer: String = current.captchaAnswer) =
        state.update { it.copy(login = login, password = password, captchaAnswer = captchaAnswer, error = null) }

    /** Logs in with what was typed (and the captcha answer when one is shown). */
    fun logIn(): CompletableFuture<SessionInfo> = signIn {
        val s = current
        client.logIn(s.login.trim(), s.password, s.captchaId, s.captchaAnswer.takeIf { s.captchaId != null })
    }

    /** Creates the account with what was typed, then signs in. */
    fun register(): CompletableFuture<SessionInfo> = signIn { client.register(current.login.trim(), current.password) }

    private fun signIn(call: () -> SessionInfo): CompletableFuture<SessionInfo> {
        val future = launch(
            busy = { it.copy(busy = true, error = null) },
            work = call,
            done = { s, _ -> s.copy(busy = false, signedIn = true, password = "", captchaId = null, captchaPng = null, captchaAnswer = "") },
            failed = { s, m -> s.copy(busy = false, error = m) },
        )
        return future.whenComplete { session, error ->
            if (session != null) onSignedIn(session)
            if (error is BaomingException.CaptchaRequired || error is BaomingException.CaptchaWrong) newCaptcha()
        }
    }

    /** Fetches a (new) captcha image. */
    fun newCaptcha(): CompletableFuture<Unit> = launch(
        busy = { it },
        work = { client.captcha() },
        done = { s, c -> s.copy(captchaId = c.id, captchaPng = c.png, captchaAnswer = "") },
        failed = { s, m -> s.copy(error = m) },
    ).thenApply { }
}

/** An exam session as the announcements screen lists it. */
data class ExamSummary(
    val id: String,
    val nameZh: String,
    val nameEn: String,
    val opensMs: Long,
    val closesMs: Long,
    val paymentWindowHours: Int,
    val centers: Int,
)

/** One announcement or notice. */
data class Notice(val title: String, val body: String, val atMs: Long?)

/** The announcements screen: the exams of the catalog and their announcements. */
data class AnnouncementsState(
    val exams: List<ExamSummary> = emptyList(),
    val selected: String? = null,
    val notices: List<Notice> = emptyList(),
    /** The catalog could not be refreshed: showing the cached copy. */
    val offline: Boolean = false,
    val busy: Boolean = false,
    val error: UserMessage? = null,
)

/** Refreshes the catalog (ETag: cheap when unchanged) and lists its exams. */
class AnnouncementsViewModel(private val client: BaomingClient, background: Background) :
    ScreenViewModel<AnnouncementsState>(AnnouncementsState(), background) {

    /** Refreshes the catalog when online, then reads it (cached copy when offline). */
    fun load(): CompletableFuture<List<ExamSummary>> = launch(
        busy = { it.copy(busy = true, error = null) },
        work = {
            val offline = try {
                client.refreshCatalog()
                false
            } catch (e: BaomingException.Network) {
                true
            }
            offline to client.exams().map {
                ExamSummary(
                    it.id, it.nameZh, it.nameEn, it.registrationOpensMs, it.registrationClosesMs,
                    it.paymentWindowHours.toInt(), it.centers.size,
                )
            }
        },
        done = { s, (offline, exams) -> s.copy(busy = false, offline = offline, exams = exams) },
        failed = { s, m -> s.copy(busy = false, error = m) },
    ).thenApply { it.second }

    /** Marks [examId] as the exam the candidate registers for and loads its announcements. */
    fun showExam(examId: String): CompletableFuture<List<Notice>> = launch(
        busy = { it.copy(selected = examId) },
        work = {
            // The catalog's announcements (offline too), then the center's notices (online).
            client.exam(examId).announcements.map { Notice(it.titleZh, it.bodyZh, it.publishedMs) } +
                centerNotices(client, examId)
        },
        done = { s, n -> s.copy(notices = n) },
        failed = { s, m -> s.copy(error = m) },
    )
}

/** The agreement screen. */
data class AgreementState(
    val version: String = "",
    val text: String = "",
    val accepted: Boolean = false,
    val busy: Boolean = false,
    val error: UserMessage? = null,
)

/** Shows the exam's agreement and records its acceptance in the draft. */
class AgreementViewModel(private val client: BaomingClient, background: Background) :
    ExamScreenViewModel<AgreementState>(AgreementState(), background) {

    /** Reads the agreement and whether this version is accepted. */
    fun reload(): CompletableFuture<Unit> = launch(
        busy = { it.copy(busy = true) },
        work = {
            val exam = client.exam(exam())
            Triple(exam.agreementVersion, exam.agreementText, client.draft(exam()).agreementVersion == exam.agreementVersion)
        },
        done = { s, (v, t, a) -> s.copy(busy = false, version = v, text = t, accepted = a, error = null) },
        failed = { s, m -> s.copy(busy = false, error = m) },
    ).thenApply { }

    /** Accepts the agreement (stored on the device, synced later). */
    fun accept(): CompletableFuture<Unit> = launch(
        busy = { it.copy(busy = true, error = null) },
        work = { client.acceptAgreement(exam()) },
        done = { s, _ -> s.copy(busy = false, accepted = true) },
        failed = { s, m -> s.copy(busy = false, error = m) },
    )
}
