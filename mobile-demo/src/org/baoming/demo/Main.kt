// The interactive demo: the phone-sized Swing app against a server URL, or against a local
// server it starts itself (with the demo candidate's account filled in on the login screen).
//
//   --server URL                    use a running server
//   --server-bin FILE --repo DIR    start a local one (what mobile-demo/run.sh does by default)
//   --folder DIR                    the app's storage (default: a fresh temporary folder)
package org.baoming.demo

import java.io.File
import java.nio.file.Files
import javax.swing.SwingUtilities
import org.baoming.demo.script.DEMO_LOGIN
import org.baoming.demo.script.DEMO_PASSWORD
import org.baoming.demo.script.DevServer
import org.baoming.demo.ui.Theme
import org.baoming.demo.ui.openWindow
import org.baoming.demo.viewmodel.AppViewModel

fun main(args: Array<String>) {
    val opts = args.toList().chunked(2).associate { it[0] to it.getOrElse(1) { "" } }
    val repo = File(opts["--repo"] ?: ".")
    val dev = if (opts["--server"] == null) DevServer(File(opts["--server-bin"] ?: "target/debug/baoming-server"), repo) else null
    val url = opts["--server"] ?: dev!!.url
    val folder = opts["--folder"]?.let(::File) ?: Files.createTempDirectory("baoming-demo-phone-").toFile()
    println("Baoming mobile demo against $url (app storage: $folder)")
    if (dev != null) println("demo candidate: $DEMO_LOGIN / $DEMO_PASSWORD")
    Theme.install(File(repo, "core/assets/fonts/NotoSansCJKsc-Regular.otf"))
    val app = AppViewModel(folder.path, url)
    if (dev != null) app.login.edit(DEMO_LOGIN, DEMO_PASSWORD)
    app.startPeriodicSync(15_000)
    Runtime.getRuntime().addShutdownHook(Thread { dev?.close() })
    SwingUtilities.invokeLater {
        val window = openWindow(app)
        window.addWindowListener(object : java.awt.event.WindowAdapter() {
            override fun windowClosed(e: java.awt.event.WindowEvent) {
                app.close()
                dev?.close()
                System.exit(0)
            }
        })
    }
}
