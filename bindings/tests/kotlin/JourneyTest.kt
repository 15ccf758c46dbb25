// The candidate's journey through the generated Kotlin bindings on the JVM (JNA), against the
// real server: register and log in, cache the catalog, edit the draft offline with validation
// issues, prepare a photo, sync, submit, status and seats; after submission pay on the payment
// platform's page, refresh until paid, the registration form, the admission ticket's typed
// refusals, the center's announcements, on-site confirmation and arrangement (as the operator,
// over HTTP) and the ticket itself; and the error paths: wrong password, a refused edit from a
// second device, the server unreachable; and the package itself: the native library loaded
// from the bindings' jar, the library's and the protocol's versions, exception messages.
//
// A plain `main`: each check throws, the process exits non-zero on the first failure and
// prints "N passed, 0 failed" at the end. Run by bindings/run-tests.sh, which sets
// BINDINGS_SERVER_BIN and BINDINGS_REPO.
package org.baoming.client.test

import java.io.File
import java.net.HttpURLConnection
import java.net.URI
import java.nio.file.Files
import java.time.Instant
import java.time.temporal.ChronoUnit
import java.util.Collections
import kotlin.system.exitProcess
import org.baoming.client.BaomingClient
import org.baoming.client.BaomingException
import org.baoming.client.Event
import org.baoming.client.Listener
import org.baoming.client.libraryVersion
import org.baoming.client.protocolVersion
import org.baoming.client.verifyTicket

const val EXAM = "ncre-2027-03"
const val PASSWORD = "correct horse battery 1"
const val OPERATOR_PASSWORD = "bindings-admin-pass-1"
const val UNREACHABLE = "http://127.0.0.1:9"
val repo = File(System.getenv("BINDINGS_REPO") ?: ".")

fun check(condition: Boolean, what: () -> String) {
    if (!condition) throw AssertionError(what())
}

inline fun <reified E : Throwable> expectThrows(what: String, block: () -> Unit): E {
    try {
        block()
    } catch (e: Throwable) {
        if (e is E) return e
        throw AssertionError("$what: expected ${E::class.simpleName}, got $e", e)
    }
    throw AssertionError("$what: expected ${E::class.simpleName}, nothing was thrown")
}

/** `baoming-server serve` on a free port with a fresh data folder. */
class Server {
    private val dir: File = Files.createTempDirectory("baoming-kotlin-").toFile()
    private val process: Process
    val url: String

    init {
        val pb = ProcessBuilder(
            System.getenv("BINDINGS_SERVER_BIN") ?: "target/debug/baoming-server",
            "--data-dir", dir.path, "serve", "--listen", "127.0.0.1:0",
        )
        val env = pb.environment()
        // Every BAOMING_* variable is server configuration: start from none of the caller's.
        env.keys.filter { it.startsWith("BAOMING_") }.forEach { env.remove(it) }
        env["BAOMING_ARGON2__MEMORY_KIB"] = "256"
        env["BAOMING_ARGON2__ALLOW_WEAK_FOR_TESTS"] = "true"
        env["BAOMING_THROTTLE__ADDRESS_ATTEMPTS_PER_MINUTE"] = "1000000"
        env["BAOMING_LOG"] = "warn"
        env["BAOMING_DEMO_OPERATOR_PASSWORD"] = OPERATOR_PASSWORD
        pb.redirectError(ProcessBuilder.Redirect.DISCARD)
        process = pb.start()
        val reader = process.inputStream.bufferedReader()
        var found: String? = null
        for (i in 0 until 20) {
            val line = reader.readLine() ?: break
            val m = Regex("listening on (http://\\S+)").find(line)
            if (m != null) {
                found = m.groupValues[1]
                break
            }
        }
        url = found ?: throw IllegalStateException("the server did not start")
        // Keep draining stdout so the server never blocks on a full pipe.
        Thread { reader.forEachLine { } }.apply { isDaemon = true }.start()
    }

    fun http(
        method: String,
        path: String,
        body: String?,
        token: String? = null,
        headers: Map<String, String> = emptyMap(),
    ): Pair<Int, String> {
        val c = URI(url + path).toURL().openConnection() as HttpURLConnection
        c.requestMethod = method
        if (token != null) c.setRequestProperty("authorization", "Bearer $token")
        for ((k, v) in headers) c.setRequestProperty(k, v)
        if (body != null) {
            c.doOutput = true
            c.setRequestProperty("content-type", if (body.startsWith("{")) "application/json" else "text/plain")
            c.outputStream.use { it.write(body.toByteArray()) }
        }
        val status = c.responseCode
        val text = (if (status < 400) c.inputStream else c.errorStream)?.bufferedReader()?.readText() ?: ""
        return status to text
    }

    fun adminToken(): String {
        val (s, body) = http("POST", "/api/operator/sessions", """{"username":"admin","password":"$OPERATOR_PASSWORD"}""")
        check(s == 200) { "operator login: $s $body" }
        return jsonText(body, "token")
    }

    /** A call as the demo administrator over plain HTTP. */
    fun operator(method: String, path: String, body: String? = null, headers: Map<String, String> = emptyMap()) =
        http(method, path, body, adminToken(), headers)

    /**
     * Imports the demo catalog with registration open from a day ago for thirty days, on-site
     * confirmation from an hour ago for two days, and the printing window in forty days — or,
     * with [printingNow], from an hour ago for two days.
     */
    fun importOpenCatalog(printingNow: Boolean = false) {
        val admin = adminToken()
        val (printOpens, printCloses) = if (printingNow) -3600L to 2L * 86400 else 40L * 86400 to 48L * 86400
        val now = Instant.now().truncatedTo(ChronoUnit.SECONDS)
        fun at(secs: Long) = now.plusSeconds(secs).toString()
        val toml = File(repo, "core/catalog/demo.toml").readLines().joinToString("\n") { line ->
            val t = line.trimStart()
            when {
                t.startsWith("registration = {") -> "registration = { opens = \"${at(-86400)}\", closes = \"${at(30L * 86400)}\" }"
                t.startsWith("printing = {") -> "printing = { opens = \"${at(printOpens)}\", closes = \"${at(printCloses)}\" }"
                t.startsWith("window = {") -> "window = { opens = \"${at(-3600)}\", closes = \"${at(2L * 86400)}\" }"
                else -> line
            }
        } + "\n"
        val (status, answer) = http("PUT", "/api/operator/catalog", toml, admin)
        check(status == 200) { "catalog import: $status $answer" }
    }

    fun stop() {
        process.destroy()
        process.waitFor()
        dir.deleteRecursively()
    }
}

/** The string value of `key` in a flat JSON text (enough for the answers the suite reads). */
fun jsonText(json: String, key: String): String =
    Regex("\"$key\"\\s*:\\s*\"([^\"]*)\"").find(json)?.groupValues?.get(1)
        ?: throw AssertionError("no \"$key\" in $json")

/**
 * Pays on the payment platform's page as a browser does: opens the page, reads its form's hidden
 * `trade_no` and posts the form with `action=pay` (see server/tests/payments/). Returns the
 * cashier's HTTP status.
 */
fun payOnPage(pageUrl: String): Int {
    val page = URI(pageUrl).toURL().openConnection() as HttpURLConnection
    check(page.responseCode == 200) { "payment page: ${page.responseCode}" }
    val html = page.inputStream.bufferedReader().readText()
    check(html.contains("<form method=\"post\" action=\"/cashier\">")) { "no form in $html" }
    val tradeNo = Regex("name=\"trade_no\" value=\"([^\"]+)\"").find(html)!!.groupValues[1]
    val cashier = URI(pageUrl.substringBefore("/gateway.do") + "/cashier").toURL().openConnection() as HttpURLConnection
    cashier.requestMethod = "POST"
    cashier.doOutput = true
    cashier.setRequestProperty("content-type", "application/x-www-form-urlencoded")
    cashier.outputStream.use { it.write("trade_no=${java.net.URLEncoder.encode(tradeNo, "UTF-8")}&action=pay".toByteArray()) }
    val status = cashier.responseCode
    (if (status < 400) cashier.inputStream else cashier.errorStream)?.use { it.readBytes() }
    return status
}

fun isPdf(bytes: ByteArray) = bytes.size in 5 until 1_000_000 && String(bytes, 0, 5, Charsets.ISO_8859_1) == "%PDF-"

/** Collects the client's events (delivered on its own threads). */
class Recorder : Listener {
    val events: MutableList<Event> = Collections.synchronizedList(mutableListOf())
    override fun onEvent(event: Event) {
        events.add(event)
    }
    fun seen(p: (Event) -> Boolean) = synchronized(events) { events.any(p) }
}

fun residentId(body17: String): String {
    val weights = intArrayOf(7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    val sum = body17.mapIndexed { i, c -> (c - '0') * weights[i] }.sum()
    return body17 + "10X98765432"[sum % 11]
}

fun tempFolder(name: String): String = Files.createTempDirectory("baoming-device-$name-").toString()

fun theCandidateJourney(server: Server) {
    val deviceA = tempFolder("a")
    val deviceB = tempFolder("b")
    val login = "kotlin@example.com"

    var a = BaomingClient.open(deviceA, server.url)
    expectThrows<BaomingException.NoCatalog>("exams before any catalog") { a.exams() }
    val session = a.register(login, PASSWORD)
    check(session.accountId.isNotEmpty() && a.accountId() == session.accountId) { "registered: $session" }
    check(a.refreshCatalog()) { "a first catalog is stored" }
    check(!a.refreshCatalog()) { "the cached catalog is current (ETag)" }
    a.logOut()
    val wrong = expectThrows<BaomingException.WrongCredentials>("wrong password") { a.logIn(login, "not the password") }
    check(wrong.message == "wrong account or password") { "the library's message: ${wrong.message}" }
    val again = a.logIn(login, PASSWORD)
    a.close()

    // A second device of the same candidate syncs the empty registration now.
    var b = BaomingClient.open(deviceB, server.url)
    b.logIn(login, PASSWORD)
    b.refreshCatalog()
    b.openRegistration(EXAM)
    b.syncNow()
    b.close()

    // Offline: the same folder, a server that cannot be reached; the token comes from where
    // the app keeps it (the Android keystore).
    a = BaomingClient.open(deviceA, UNREACHABLE)
    a.resumeSession(again.accountId, again.token)
    val exam = a.exam(EXAM)
    check(exam.announcements.map { it.id } == listOf("a-2026-11-15", "a-2026-11-01")) { "announcements, newest first: ${exam.announcements}" }
    val fee = exam.centers.first { it.id == "bj-chaoyang" }.subjects.first { it.code == "15" }.feeFen
    a.openRegistration(EXAM)
    val first = a.validate(EXAM).map { it.code }.toSet()
    check(first.containsAll(listOf("agreement_missing", "field_required", "center_missing", "photo_missing"))) { "$first" }
    a.acceptAgreement(EXAM)
    for ((k, v) in listOf(
        "name" to "李四", "gender" to "female", "birth_date" to "1990-01-01",
        "id_document" to "resident_id:" + residentId("11010519900101042"), "ethnicity" to "han",
        "mobile" to "13800138000", "education" to "bachelor", "occupation" to "student",
    )) a.setField(EXAM, k, v)
    check(a.chooseCenter(EXAM, "bj-chaoyang").isEmpty()) { "nothing dropped" }
    a.addSubject(EXAM, "15")
    a.declare(EXAM)
    check(a.validate(EXAM).map { it.code } == listOf("photo_missing")) { "${a.validate(EXAM)}" }
    val prepared = a.preparePhoto(EXAM, File(repo, "core/assets/samples/photo.jpg").readBytes())
    val verdict = a.checkPhoto(EXAM, prepared.jpeg)
    check(verdict.passed && verdict.problems.isEmpty()) { "$verdict" }
    val bad = expectThrows<BaomingException.PhotoRejected>("a file that is no photo") {
        a.attachPhoto(EXAM, "not a jpeg".toByteArray())
    }
    check(bad.problems.isNotEmpty()) { "problems listed" }
    val sha = a.attachPhoto(EXAM, prepared.jpeg)
    check(a.validate(EXAM).isEmpty()) { "${a.validate(EXAM)}" }
    check(a.submit(EXAM).action == "submit") { "queued" }
    expectThrows<BaomingException.Network>("sync with the server down") { a.syncNow(20_000u) }
    check(a.queuedActions().map { it.action } == listOf("submit")) { "still queued" }
    a.close()

    // Online again: photo uploaded, draft synced, submission sent.
    a = BaomingClient.open(deviceA, server.url)
    val recorder = Recorder()
    a.setListener(recorder)
    a.resumeSession(again.accountId, again.token)
    a.openRegistration(EXAM)
    val summary = a.syncNow(60_000u)
    check(summary.actionsFinished.map { it.action to it.done } == listOf("submit" to true)) { "$summary" }
    val status = a.status(EXAM)
    check(status.status == "submitted" && status.center == "bj-chaoyang" && status.amountFen == fee) { "$status" }
    check(recorder.seen { it is Event.PhotoUploaded && it.sha256 == sha }) { "photo uploaded event" }
    check(recorder.seen { it is Event.StatusChanged && it.status == "submitted" }) { "status event" }
    val seats = a.seats(EXAM).first { it.center == "bj-chaoyang" }
    check(seats.free == seats.capacity - 1u) { "$seats" }
    expectThrows<BaomingException.NotEditable>("center locked after submit") { a.chooseCenter(EXAM, "bj-haidian") }
    a.close()

    // Device B adds a subject it still believes editable: refused (subjects are locked once
    // submitted), listed, reverted.
    b = BaomingClient.open(deviceB, server.url)
    b.logIn(login, PASSWORD)
    b.openRegistration(EXAM)
    b.addSubject(EXAM, "65")
    b.syncNow()
    val rejected = b.rejectedEdits(EXAM)
    check(rejected.map { it.path } == listOf("draft.subjects")) { "$rejected" }
    check(b.draft(EXAM).subjects == listOf("15")) { "reverted to the server's state" }
    b.close()

    // Pay: the order and its page, paid on the page as a browser would, then "I have paid,
    // refresh" until the platform confirms.
    a = BaomingClient.open(deviceA, server.url)
    a.resumeSession(again.accountId, again.token)
    val notPaid = expectThrows<BaomingException.NotPaid>("the form before payment") { a.registrationFormPdf(EXAM) }
    check(notPaid.status == "submitted") { "$notPaid" }
    val order = a.pay(EXAM)
    check(order.url.contains("/gateway.do?") && order.state == "open") { "$order" }
    check(order.amountFen == fee && order.orderId.isNotEmpty()) { "$order" }
    check(order.expiresAtMs > System.currentTimeMillis()) { "$order" }
    check(order.status.status == "awaiting_payment" && order.status.paymentReference == order.orderId) { "$order" }
    check(a.pay(EXAM).orderId == order.orderId) { "the open order is answered again" }
    check(a.refreshPayment(EXAM).status == "awaiting_payment") { "the page was not even opened" }
    check(payOnPage(order.url) == 200) { "the cashier took the payment" }
    var paid = a.refreshPayment(EXAM)
    val giveUp = System.nanoTime() + 30_000_000_000L
    while (paid.status != "paid" && System.nanoTime() < giveUp) {
        Thread.sleep(200)
        paid = a.refreshPayment(EXAM)
    }
    check(paid.status == "paid" && paid.receiptTradeNo != null && paid.paidAtMs != null) { "$paid" }
    val afterPaying = a.status(EXAM)
    check(afterPaying.status == "paid" && afterPaying.paymentReference == order.orderId) { "$afterPaying" }
    check(afterPaying.receiptTradeNo == paid.receiptTradeNo) { "$afterPaying" }

    // The registration form now; the admission ticket only inside the printing window.
    val form = a.registrationFormPdf(EXAM)
    check(isPdf(form)) { "the form is a PDF under 1 MB (${form.size} bytes)" }
    val closed = expectThrows<BaomingException.PrintingWindowClosed>("the ticket before printing opens") {
        a.admissionTicketPdf(EXAM)
    }
    check((closed.opensMs ?: 0) > System.currentTimeMillis()) { "$closed" }

    // The center publishes a notice: the candidate's announcements show it.
    val center = "/api/operator/exams/$EXAM/centers/bj-chaoyang"
    val now = Instant.now().truncatedTo(ChronoUnit.SECONDS)
    val (created, noticeBody) = server.operator(
        "POST", "$center/notices",
        """{"title":"考场开放时间","body":"考试当天8:00开放入场。","opens":"${now.minusSeconds(300)}",""" +
            """"closes":"${now.plusSeconds(86400)}","requires_onsite_confirmation":false}""",
    )
    check(created == 201) { "notice: $created $noticeBody" }
    val news = a.announcements(EXAM)
    check(news.center == "bj-chaoyang" && news.onsiteRequired) { "$news" }
    check(news.notices.map { it.title } == listOf("考场开放时间")) { "$news" }

    // Printing opens (the administrator moves the window to now): the ticket needs the on-site
    // confirmation this center requires, then the center's room arrangement.
    server.importOpenCatalog(printingNow = true)
    a.refreshCatalog()
    val unconfirmed = expectThrows<BaomingException.NotEligible>("the ticket before on-site confirmation") {
        a.admissionTicketPdf(EXAM)
    }
    check(unconfirmed.reason == "not_confirmed_on_site") { "$unconfirmed" }
    val (confirmed, confirmBody) = server.operator(
        "POST", "$center/confirm",
        """{"name":"李四","id_document":"${residentId("11010519900101042")}"}""",
        mapOf("idempotency-key" to "kotlin-journey-confirm"),
    )
    check(confirmed == 200) { "confirm: $confirmed $confirmBody" }
    check(a.status(EXAM).status == "confirmed") { "confirmed on site" }
    val unarranged = expectThrows<BaomingException.NotEligible>("the ticket before the arrangement") {
        a.admissionTicketPdf(EXAM)
    }
    check(unarranged.reason == "not_arranged") { "$unarranged" }
    val (arrangedStatus, arrangement) = server.operator("POST", "$center/arrangement")
    check(arrangedStatus == 200) { "arrangement: $arrangedStatus $arrangement" }
    val ticket = a.admissionTicketPdf(EXAM)
    check(isPdf(ticket)) { "the ticket is a PDF under 1 MB (${ticket.size} bytes)" }
    check(a.status(EXAM).ticketNumber == jsonText(arrangement, "ticket_number")) { "${a.status(EXAM)}" }
    // Opened on the device and synced, the registration gets the number in its own copy,
    // announced with the status event.
    val number = jsonText(arrangement, "ticket_number")
    val aRecorder = Recorder()
    a.setListener(aRecorder)
    a.openRegistration(EXAM)
    a.syncNow(20_000u)
    check(aRecorder.seen { it is Event.StatusChanged && it.ticketNumber == number }) { "ticket event" }
    check(a.localStatus(EXAM).ticketNumber == number) { "${a.localStatus(EXAM)}" }

    // The ticket on screen: its number and the signed code the printed QR carries. A staff
    // device verifies it offline with the exam's key from the cached catalog; a code changed by
    // one character, or forged, is refused.
    val shown = a.admissionTicketCode(EXAM)
    check(shown.ticketNumber == jsonText(arrangement, "ticket_number")) { "$shown" }
    val key = a.exam(EXAM).publicKey
    check(key.size == 32) { "a 32-byte key" }
    val verified = verifyTicket(shown.code, key)
    check(verified.exam == EXAM && verified.ticketNumber == shown.ticketNumber) { "$verified" }
    check(verified.name == "李四" && verified.sittings.isNotEmpty()) { "$verified" }
    val at = shown.code.length - 40
    val tampered = shown.code.substring(0, at) + (if (shown.code[at] != 'B') "B" else "C") +
        shown.code.substring(at + 1)
    for (bad in listOf(tampered, "BMT1:" + "A".repeat(120))) {
        val refused = expectThrows<BaomingException.InvalidTicket>("a tampered or forged ticket") {
            verifyTicket(bad, key)
        }
        check(refused.code.startsWith("ticket_")) { "$refused" }
    }
    a.close()
}

fun theServerUnreachable() {
    val c = BaomingClient.open(tempFolder("down"), UNREACHABLE)
    expectThrows<BaomingException.Network>("register offline") { c.register("nobody@example.com", PASSWORD) }
    expectThrows<BaomingException.Network>("catalog offline") { c.refreshCatalog() }
    expectThrows<BaomingException.InvalidInput>("bad URL") { BaomingClient.open(tempFolder("bad"), "ftp://x") }
    c.close()
}

/** The package as integrators take it: the jar's own native library, its version, its messages. */
fun thePackage() {
    check(System.getProperty("jna.library.path") == null) { "the test must load the library from the jar" }
    val classes = BaomingClient::class.java
    val source = classes.protectionDomain.codeSource.location.path
    check(source.endsWith(".jar") && classes.classLoader.getResource("linux-x86-64/libbaoming_bindings.so") != null) {
        "the bindings come from the jar with the native library inside: $source"
    }
    val version = classes.`package`.implementationVersion
    check(version != null && libraryVersion() == version) { "libraryVersion ${libraryVersion()}, jar $version" }
    check(protocolVersion() == "1") { "the sync protocol spoken: ${protocolVersion()}" }
    val client = BaomingClient.open(tempFolder("package"), UNREACHABLE)
    val noSession = expectThrows<BaomingException.SignInRequired>("a draft without a session") { client.draft(EXAM) }
    check(noSession.message == "sign in first" && noSession.toString() == noSession.message) { "$noSession" }
    client.shutdown()
    val closed = expectThrows<BaomingException.Closed>("a call after shutdown") { client.exams() }
    check(closed.message == "the client is closed") { "${closed.message}" }
    val badUrl = expectThrows<BaomingException.InvalidInput>("bad URL") { BaomingClient.open(tempFolder("url"), "ftp://x") }
    check(badUrl.message!!.startsWith("invalid input: ") && badUrl.detail in badUrl.message!!) { "${badUrl.message}" }
}

fun main() {
    val server = Server()
    var passed = 0
    var failed = 0
    try {
        server.importOpenCatalog()
        for ((name, test) in listOf<Pair<String, () -> Unit>>(
            "the candidate journey" to { theCandidateJourney(server) },
            "the server unreachable is a typed network error" to { theServerUnreachable() },
            "the package: library from the jar, version, messages" to { thePackage() },
        )) {
            try {
                test()
                println("ok   $name")
                passed++
            } catch (e: Throwable) {
                println("FAIL $name: $e")
                e.printStackTrace()
                failed++
            }
        }
    } finally {
        server.stop()
    }
    println("$passed passed, $failed failed")
    exitProcess(if (failed == 0) 0 else 1)
}
