// The headless scripted journey: drives the view-models (not Swing) through a candidate's
// whole registration against a live server, printing each step; exits non-zero on the first
// failure. It is what the test suite runs (mobile-demo/run-scripted.sh), and what the
// screenshot command replays with the Swing panels attached.
package org.baoming.demo.script

import java.io.File
import java.net.HttpURLConnection
import java.net.URI
import java.net.URLEncoder
import java.nio.file.Files
import java.util.concurrent.CompletableFuture
import java.util.concurrent.ExecutionException
import java.util.concurrent.TimeUnit
import kotlin.system.exitProcess
import org.baoming.demo.viewmodel.AppViewModel
import org.baoming.demo.viewmodel.Screen
import org.baoming.demo.viewmodel.UserMessage

const val EXAM = "ncre-2027-03"

/** A center without review, so the submission can be paid at once. */
const val CENTER = "bj-dongcheng"
const val SUBJECT = "15"

/** A step failed: what was expected. */
class StepFailed(message: String) : Exception(message)

/** Fails the step unless [condition]. */
fun expect(condition: Boolean, what: () -> String) {
    if (!condition) throw StepFailed(what())
}

/** Waits for an action of a view-model (60 s at most); its failure fails the step. */
fun <T> CompletableFuture<T>.await(): T = try {
    get(60, TimeUnit.SECONDS)
} catch (e: ExecutionException) {
    throw StepFailed("the action failed: ${UserMessage.of(e.cause ?: e)} — ${e.cause}")
}

/** Waits for an action that must fail; returns the message the candidate sees. */
fun <T> CompletableFuture<T>.awaitFailure(): UserMessage = try {
    get(60, TimeUnit.SECONDS)
    throw StepFailed("the action succeeded but should have failed")
} catch (e: ExecutionException) {
    UserMessage.of(e.cause ?: e)
}

/** An 18-character resident ID number with its ISO 7064 MOD 11-2 check character. */
fun residentId(body17: String): String {
    val weights = intArrayOf(7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    val sum = body17.mapIndexed { i, c -> (c - '0') * weights[i] }.sum()
    return body17 + "10X98765432"[sum % 11]
}

/**
 * What the candidate's browser does on the payment platform's page: load it, read the
 * order's hidden `trade_no` from its form, post the form with "pay". Returns the HTTP status.
 */
fun payOnPlatformPage(url: String): Int {
    val page = URI(url).toURL().openConnection() as HttpURLConnection
    page.instanceFollowRedirects = false
    if (page.responseCode != 200) return page.responseCode
    val html = page.inputStream.bufferedReader().readText()
    expect(html.contains("<form method=\"post\" action=\"/cashier\">")) { "no payment form on the page: $html" }
    val tradeNo = Regex("name=\"trade_no\" value=\"([^\"]+)\"").find(html)?.groupValues?.get(1)
        ?: throw StepFailed("no trade_no on the payment page")
    val base = url.substringBefore("/gateway.do")
    val post = URI("$base/cashier").toURL().openConnection() as HttpURLConnection
    post.requestMethod = "POST"
    post.instanceFollowRedirects = false
    post.doOutput = true
    post.setRequestProperty("Content-Type", "application/x-www-form-urlencoded")
    post.outputStream.use { it.write("trade_no=${URLEncoder.encode(tradeNo, "UTF-8")}&action=pay".toByteArray()) }
    val status = post.responseCode
    (if (status < 400) post.inputStream else post.errorStream)?.readAllBytes()
    return status
}

/**
 * The journey, step by step, on [app] (signed out, on a fresh folder) for the demo candidate;
 * [photo] is the phone picture to pick; [onScreen] is called after each step with the screen it
 * ends on (the screenshot command renders it; the test passes nothing).
 */
class Journey(private val app: AppViewModel, private val photo: File, private val onScreen: (Screen) -> Unit = {}) {
    private var n = 0
    val steps = mutableListOf<String>()

    /** Free seats of the subject at the center before submitting. */
    private var freeBefore: Int? = null

    private fun step(screen: Screen, title: String, body: () -> String) {
        n++
        app.navigate(screen)
        val started = System.nanoTime()
        val detail = try {
            body()
        } catch (e: StepFailed) {
            println("FAIL [$n] $title: ${e.message}")
            throw e
        }
        val ms = (System.nanoTime() - started) / 1_000_000
        println("ok   [$n] $title — $detail (${ms} ms)")
        steps += title
        onScreen(screen)
    }

    /** Runs every step; throws [StepFailed] at the first failure. */
    fun run() {
        step(Screen.LOGIN, "login: a wrong password is refused with a message") {
            app.login.edit(DEMO_LOGIN, "not the password")
            val m = app.login.logIn().awaitFailure()
            expect(m.kind == "wrong_credentials" && app.login.current.error == m) { "got $m" }
            m.en
        }
        step(Screen.LOGIN, "login") {
            app.login.edit(DEMO_LOGIN, DEMO_PASSWORD)
            val session = app.login.logIn().await()
            app.ready.await()
            expect(app.state.value.accountId == session.accountId && app.state.value.examId == EXAM) { "${app.state.value}" }
            "account ${session.accountId}"
        }
        step(Screen.ANNOUNCEMENTS, "announcements: the catalog's exams") {
            val exams = app.announcements.load().await()
            expect(exams.any { it.id == EXAM }) { "exams: $exams" }
            val notices = app.announcements.showExam(EXAM).await()
            val s = app.announcements.current
            expect(!s.offline && s.error == null && s.selected == EXAM) { "$s" }
            expect(notices.size >= 2 && notices.all { it.title.isNotBlank() }) { "the catalog's announcements: $notices" }
            exams.joinToString { it.nameZh } + "; ${notices.size} announcements, latest “${notices.first().title}”"
        }
        step(Screen.AGREEMENT, "agreement: read and accept") {
            app.agreement.reload().await()
            expect(!app.agreement.current.accepted && app.agreement.current.text.isNotBlank()) { "${app.agreement.current}" }
            app.agreement.accept().await()
            expect(app.agreement.current.accepted) { "not accepted" }
            "version ${app.agreement.current.version}"
        }
        step(Screen.FORM, "form: answers, an inline validation error, fixed") {
            val form = app.form
            form.reload().await()
            for ((k, v) in listOf(
                "name" to "王小明", "gender" to "male", "birth_date" to "1995-06-15",
                "id_document" to "resident_id:" + residentId("11010519950615003"), "ethnicity" to "han",
                "education" to "bachelor", "occupation" to "student",
            )) form.setValue(k, v).await()
            form.setValue("mobile", "1380013").await()
            val bad = form.current.visibleError("mobile")
            expect(bad != null && bad.code == "field_invalid") { "no inline error for a short mobile number: ${form.current.fields.map { it.key to it.error }}" }
            onScreen(Screen.FORM)
            form.setValue("mobile", "13800138000").await()
            expect(form.current.visibleError("mobile") == null) { "the error stays: ${form.current.visibleError("mobile")}" }
            form.declare().await()
            form.checkAll().await()
            val left = form.current.fields.filter { it.error != null }
            expect(left.isEmpty() && form.current.complete) { "fields still wrong: $left" }
            "mobile `1380013` → “${bad!!.messageZh}”, fixed"
        }
        step(Screen.CENTER, "center and subjects with live seats") {
            val c = app.center
            c.reload().await()
            c.refreshSeats().await()
            val row = c.current.centers.firstOrNull { it.id == CENTER } ?: throw StepFailed("no $CENTER")
            expect(row.free != null && row.capacity != null && c.current.seatsAtMs != null) { "no live seats: $row" }
            c.choose(CENTER).await()
            c.toggle(SUBJECT).await()
            val sub = c.current.subjects.firstOrNull { it.code == SUBJECT } ?: throw StepFailed("no subject $SUBJECT")
            expect(sub.chosen && sub.free != null && c.current.totalFen == sub.feeFen && c.current.issues.isEmpty()) { "${c.current}" }
            freeBefore = sub.free
            "${row.nameZh}: ${row.free}/${row.capacity} free; subject $SUBJECT ${sub.nameZh}: ${sub.free}/${sub.capacity} free, ¥${sub.feeFen / 100}"
        }
        step(Screen.PHOTO, "photo: pick, report, prepare, preview, attach") {
            val p = app.photo
            val original = p.pick(photo.name, photo.readBytes()).await()
            val prepared = p.prepare().await()
            val report = p.current.preparedReport ?: throw StepFailed("no report on the prepared photo")
            expect(report.passed && prepared.jpeg.isNotEmpty()) { "prepared photo fails: $report" }
            val sha = p.attach().await()
            expect(p.current.attachedSha256 == sha) { "${p.current}" }
            "original ${original.width}×${original.height} " + (if (original.passed) "passes" else "fails (${original.problems.joinToString { it.code }})") +
                "; prepared ${prepared.width}×${prepared.height}, ${prepared.jpeg.size / 1024} KB passes"
        }
        step(Screen.STATUS, "sync and submit") {
            val s = app.status
            s.refresh().await()
            expect(s.current.missing.isEmpty()) { "still missing: ${s.current.missing.map { it.path }}" }
            val summary = s.submit().await() ?: throw StepFailed("the submission was not sent")
            expect(summary.actionsFinished.any { it.action == "submit" && it.done }) { "$summary" }
            expect(app.photo.current.uploaded) { "no PhotoUploaded event for the attached photo" }
            "submitted: ${s.current.status?.status}"
        }
        step(Screen.STATUS, "status timeline with the payment deadline") {
            val s = app.status
            val st = s.refresh().await()
            expect(st.status == "submitted" && st.deadlineMs != null && st.amountFen != null) { "$st" }
            val current = s.current.timeline.single { it.state == org.baoming.demo.viewmodel.StepState.CURRENT }
            expect(current.status == "submitted") { "${s.current.timeline}" }
            app.center.refreshSeats().await()
            val free = app.center.current.subjects.first { it.code == SUBJECT }.free
            expect(free == freeBefore!! - 1) { "the held seat is not counted: $freeBefore free before, $free now" }
            "seats of $SUBJECT: $freeBefore → $free free; " + "${s.current.timeline.joinToString(" → ") { it.en + if (it == current) "*" else "" }}; pay within ${s.current.remaining(System.currentTimeMillis())}"
        }
        step(Screen.PAYMENT, "pay on the platform's page, refresh until paid") {
            val pay = app.payment
            pay.reload().await()
            // The embedded sandbox makes its keys in the background at start: until then the
            // server answers 503 `payments_unavailable`, which the candidate would retry.
            val order = run {
                val until = System.currentTimeMillis() + 20_000
                while (true) {
                    val attempt = pay.pay()
                    try {
                        return@run attempt.get(60, TimeUnit.SECONDS)
                    } catch (e: ExecutionException) {
                        val c = e.cause
                        val retry = c is org.baoming.client.BaomingException.Server && c.code == "payments_unavailable"
                        if (!retry || System.currentTimeMillis() > until) throw StepFailed("pay: ${UserMessage.of(c ?: e)}")
                        Thread.sleep(300)
                    }
                }
                @Suppress("UNREACHABLE_CODE")
                throw StepFailed("unreachable")
            }
            expect(order.url.startsWith("http") && order.amountFen > 0 && order.expiresAtMs > System.currentTimeMillis()) { "$order" }
            val posted = payOnPlatformPage(order.url)
            expect(posted == 200) { "the payment page answered $posted" }
            val until = System.currentTimeMillis() + 30_000
            while (!pay.current.paid) {
                expect(System.currentTimeMillis() < until) { "not paid after 30 s: ${pay.current.status}" }
                pay.refresh().await()
                if (!pay.current.paid) Thread.sleep(300)
            }
            "order ${order.orderId}, ¥${order.amountFen / 100}: ${pay.current.status?.status}, receipt ${pay.current.status?.receiptTradeNo}"
        }
        step(Screen.DOCUMENTS, "download the registration form") {
            val d = app.documents
            d.reload().await()
            val doc = d.registrationForm().await()
            val head = doc.file.readBytes().copyOf(5).decodeToString()
            expect(head == "%PDF-" && doc.bytes > 1000) { "not a PDF: $head, ${doc.bytes} bytes" }
            // The admission ticket is printed only inside the printing window (weeks away here).
            val refused = d.admissionTicket().awaitFailure()
            expect(refused.kind == "printing_window_closed" && d.current.error == refused) { "admission ticket: $refused" }
            "${doc.file.name}, ${doc.bytes / 1024} KB; admission ticket: “${refused.zh}”"
        }
        step(Screen.STATUS, "status after payment") {
            val st = app.status.sync().await().let { app.status.current.status!! }
            expect(st.status == "paid") { "$st" }
            app.status.current.timeline.joinToString(" → ") { it.en + if (it.state == org.baoming.demo.viewmodel.StepState.CURRENT) "*" else "" }
        }
    }
}

/** Options: `--server-bin FILE --repo DIR` (a local server is started) or `--server URL`. */
fun main(args: Array<String>) {
    val opts = args.toList().chunked(2).associate { it[0] to it.getOrElse(1) { "" } }
    val repo = File(opts["--repo"] ?: ".")
    val server = opts["--server"]
    val folder = Files.createTempDirectory("baoming-demo-phone-").toFile()
    var code = 0
    var dev: DevServer? = null
    try {
        if (server == null) dev = DevServer(File(opts["--server-bin"] ?: "target/debug/baoming-server"), repo)
        val url = server ?: dev!!.url
        println("mobile demo, scripted journey against $url")
        AppViewModel(folder.path, url).use { app ->
            val journey = Journey(app, File(repo, "core/assets/samples/photo.jpg"))
            try {
                journey.run()
                println("${journey.steps.size} steps passed")
            } catch (e: StepFailed) {
                println("${journey.steps.size} steps passed, 1 failed")
                code = 1
            }
        }
    } catch (e: Throwable) {
        println("FAIL the journey could not run: $e")
        e.printStackTrace()
        code = 1
    } finally {
        dev?.close()
        folder.deleteRecursively()
    }
    exitProcess(code)
}
