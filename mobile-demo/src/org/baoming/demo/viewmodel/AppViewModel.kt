// The app's root view-model: the client, the signed-in session, navigation between screens,
// and the client's events fanned out to the screens that show them.
package org.baoming.demo.viewmodel

import java.util.concurrent.CompletableFuture
import java.util.concurrent.ScheduledFuture
import org.baoming.client.BaomingClient
import org.baoming.client.Event
import org.baoming.client.Listener
import org.baoming.client.SessionInfo

/** The candidate's screens, in the order of the journey. */
enum class Screen(val zh: String, val en: String) {
    LOGIN("登录", "Log in"),
    ANNOUNCEMENTS("公告", "Announcements"),
    AGREEMENT("报名协议", "Agreement"),
    FORM("报名信息", "Form"),
    CENTER("考点与科目", "Center & subjects"),
    PHOTO("照片", "Photo"),
    STATUS("报名状态", "Status"),
    PAYMENT("缴费", "Payment"),
    DOCUMENTS("下载", "Documents"),
}

/** What the shell shows around the screens. */
data class AppState(
    val screen: Screen = Screen.LOGIN,
    val accountId: String? = null,
    val examId: String? = null,
    val examName: String = "",
    /** `true` online, `false` offline, `null` not known yet. */
    val online: Boolean? = null,
    /** Something to tell the candidate across screens (e.g. refused edits). */
    val banner: String? = null,
    val bannerEn: String? = null,
)

/**
 * The root: opens the client on [folder] for [serverUrl] and owns the screens' view-models.
 * Call [close] when the app ends.
 */
class AppViewModel(folder: String, serverUrl: String) : AutoCloseable {
    val background = Background()
    val client: BaomingClient = BaomingClient.open(folder, serverUrl)
    val state = Observable(AppState())

    val login = LoginViewModel(client, background) { onSignedIn(it) }
    val announcements = AnnouncementsViewModel(client, background)
    val agreement = AgreementViewModel(client, background)
    val form = FormViewModel(client, background)
    val center = CenterViewModel(client, background)
    val photo = PhotoViewModel(client, background)
    val status = StatusViewModel(client, background)
    val payment = PaymentViewModel(client, background)
    val documents = DocumentsViewModel(client, background, java.io.File(folder, "downloads"))

    private var periodicSync: ScheduledFuture<*>? = null

    /** Completes once the screens are loaded after the latest sign-in (the exam picked). */
    @Volatile
    var ready: CompletableFuture<Unit> = CompletableFuture()
        private set

    init {
        client.setListener(object : Listener {
            // On the client's threads: only update state (observers hop to their own thread).
            override fun onEvent(event: Event) = dispatch(event)
        })
    }

    private fun dispatch(event: Event) {
        when (event) {
            is Event.Connection -> state.update { it.copy(online = event.online) }
            is Event.StatusChanged -> {
                status.onStatusChanged(event.status, event.reason, event.deadlineMs)
                payment.onStatusChanged(event.status)
            }
            is Event.DocumentChanged -> if (event.remote) {
                form.reload()
                center.reload()
            }
            is Event.EditsRejected -> state.update {
                it.copy(
                    banner = "服务器未接受的修改：" + event.edits.joinToString("、") { e -> e.path },
                    bannerEn = "Edits the server refused: " + event.edits.joinToString(", ") { e -> "${e.path} (${e.reason})" },
                )
            }
            is Event.PhotoUploaded -> photo.onUploaded(event.sha256)
            is Event.Synced -> state.update { it.copy(online = true) }
            is Event.SyncFailed -> state.update { it.copy(online = false) }
            // The session was refused or ended (logged out elsewhere, password changed, expired):
            // back to the login screen; the draft stays on the device.
            is Event.SignInRequired -> state.update {
                it.copy(
                    screen = Screen.LOGIN,
                    online = false,
                    banner = "登录已失效，请重新登录",
                    bannerEn = "Your session ended: log in again",
                )
            }
            is Event.ActionFinished -> status.onActionFinished(event.outcome)
            else -> {}
        }
    }

    private fun onSignedIn(session: SessionInfo) {
        state.update { it.copy(accountId = session.accountId) }
        ready = announcements.load().thenCompose { exams ->
            exams.firstOrNull()?.let { selectExam(it.id) } ?: CompletableFuture.completedFuture(Unit)
        }
        navigate(Screen.ANNOUNCEMENTS)
    }

    /** Opens the registration of [examId] and points every screen at it. */
    fun selectExam(examId: String): CompletableFuture<Unit> = background.submit {
        client.openRegistration(examId)
        client.exam(examId)
    }.thenApply { exam ->
        state.update { it.copy(examId = exam.id, examName = exam.nameZh) }
        listOf(agreement, form, center, photo, status, payment, documents).forEach { it.examId = exam.id }
        announcements.showExam(exam.id)
        agreement.reload()
        form.reload()
        center.reload()
        photo.reload()
        status.reload()
        Unit
    }

    /** Shows [screen]; screens with live data start or stop it. */
    fun navigate(screen: Screen) {
        state.update { it.copy(screen = screen) }
        if (screen == Screen.CENTER) center.startLiveSeats(5_000) else center.stopLiveSeats()
        when (screen) {
            Screen.ANNOUNCEMENTS -> state.value.examId?.let { announcements.showExam(it) }
            Screen.STATUS -> status.refresh()
            Screen.PAYMENT -> payment.reload()
            Screen.DOCUMENTS -> documents.reload()
            else -> {}
        }
    }

    /** Hides the banner. */
    fun dismissBanner() {
        val exam = state.value.examId
        state.update { it.copy(banner = null, bannerEn = null) }
        if (exam != null) background.submit { client.dismissRejectedEdits(exam) }
    }

    /** Syncs every [periodMs] in the background (the interactive app; the script syncs itself). */
    fun startPeriodicSync(periodMs: Long) {
        periodicSync?.cancel(false)
        periodicSync = background.every(periodMs) {
            if (client.accountId() != null) {
                runCatching { client.syncNow(30_000u) }
                    .onSuccess { state.update { s -> s.copy(online = true) } }
                    .onFailure { state.update { s -> s.copy(online = false) } }
            }
        }
    }

    override fun close() {
        periodicSync?.cancel(false)
        center.stopLiveSeats()
        background.close()
        client.shutdown()
        client.close()
    }
}

/** A screen bound to the selected exam. */
abstract class ExamScreenViewModel<S>(initial: S, background: Background) : ScreenViewModel<S>(initial, background) {
    /** The exam the screen shows (set when the candidate picks one). */
    @Volatile
    var examId: String? = null

    /** The selected exam, or a clear failure. */
    protected fun exam(): String = examId ?: throw IllegalStateException("no exam selected")
}
