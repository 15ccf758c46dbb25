// A local `baoming-server` for the demo: a fresh data folder, a free port, the demo catalog
// imported with its registration window open around now, and a demo candidate account. Used
// by the scripted journey (the test) and by `run.sh` when no server URL is given. The server
// embeds its payment sandbox, so paying works without any outside service.
package org.baoming.demo.script

import java.io.File
import java.net.HttpURLConnection
import java.net.URI
import java.nio.file.Files
import java.time.Instant
import java.time.temporal.ChronoUnit

/** The demo candidate seeded by [DevServer]. */
const val DEMO_LOGIN = "demo@example.com"
const val DEMO_PASSWORD = "correct horse 2027"
private const val OPERATOR_PASSWORD = "demo-admin-pass-1"

/** `baoming-server serve` started from [binary], with the catalog of [repo]. */
class DevServer(binary: File, private val repo: File) : AutoCloseable {
    private val dir: File = Files.createTempDirectory("baoming-demo-server-").toFile()
    private val process: Process
    val url: String

    init {
        val pb = ProcessBuilder(binary.path, "--data-dir", dir.path, "serve", "--listen", "127.0.0.1:0")
        val env = pb.environment()
        // Every BAOMING_* variable is server configuration: start from none of the caller's.
        env.keys.filter { it.startsWith("BAOMING_") }.forEach { env.remove(it) }
        env["BAOMING_ARGON2__MEMORY_KIB"] = "256"
        env["BAOMING_ARGON2__ALLOW_WEAK_FOR_TESTS"] = "true"
        env["BAOMING_LOG"] = "warn"
        env["BAOMING_DEMO_OPERATOR_PASSWORD"] = OPERATOR_PASSWORD
        pb.redirectError(ProcessBuilder.Redirect.DISCARD)
        process = pb.start()
        val reader = process.inputStream.bufferedReader()
        var found: String? = null
        for (i in 0 until 40) {
            val line = reader.readLine() ?: break
            found = Regex("listening on (http://\\S+)").find(line)?.groupValues?.get(1)
            if (found != null) break
        }
        if (found == null) {
            close()
            throw IllegalStateException("baoming-server did not start")
        }
        url = found
        // Keep draining stdout so the server never blocks on a full pipe.
        Thread { runCatching { reader.forEachLine { } } }.apply { isDaemon = true }.start()
        importOpenCatalog()
        val (status, body) = http("POST", "/api/accounts", """{"login":"$DEMO_LOGIN","password":"$DEMO_PASSWORD"}""")
        check(status == 201) { "demo candidate: $status $body" }
    }

    private fun http(method: String, path: String, body: String?, token: String? = null): Pair<Int, String> {
        val c = URI(url + path).toURL().openConnection() as HttpURLConnection
        c.requestMethod = method
        if (token != null) c.setRequestProperty("authorization", "Bearer $token")
        if (body != null) {
            c.doOutput = true
            c.setRequestProperty("content-type", if (body.startsWith("{")) "application/json" else "text/plain")
            c.outputStream.use { it.write(body.toByteArray()) }
        }
        val status = c.responseCode
        val text = (if (status < 400) c.inputStream else c.errorStream)?.bufferedReader()?.readText() ?: ""
        return status to text
    }

    /** The demo catalog with registration open from a day ago for thirty days. */
    private fun importOpenCatalog() {
        val (s, body) = http("POST", "/api/operator/sessions", """{"username":"admin","password":"$OPERATOR_PASSWORD"}""")
        check(s == 200) { "operator login: $s $body" }
        val admin = Regex("\"token\"\\s*:\\s*\"([^\"]+)\"").find(body)!!.groupValues[1]
        val now = Instant.now().truncatedTo(ChronoUnit.SECONDS)
        fun at(secs: Long) = now.plusSeconds(secs).toString()
        val toml = File(repo, "core/catalog/demo.toml").readLines().joinToString("\n") { line ->
            val t = line.trimStart()
            when {
                t.startsWith("registration = {") -> "registration = { opens = \"${at(-86400)}\", closes = \"${at(30L * 86400)}\" }"
                t.startsWith("printing = {") -> "printing = { opens = \"${at(40L * 86400)}\", closes = \"${at(48L * 86400)}\" }"
                t.startsWith("window = {") -> "window = { opens = \"${at(-3600)}\", closes = \"${at(2L * 86400)}\" }"
                else -> line
            }
        } + "\n"
        val (status, answer) = http("PUT", "/api/operator/catalog", toml, admin)
        check(status == 200) { "catalog import: $status $answer" }
    }

    override fun close() {
        process.destroy()
        process.waitFor()
        dir.deleteRecursively()
    }
}
