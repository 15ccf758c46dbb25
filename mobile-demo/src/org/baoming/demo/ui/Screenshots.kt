// The screenshot command: replays the scripted journey against a local server with the Swing
// shell attached, headless (java.awt.headless=true), paints chosen screens into images and
// lays them out side by side in one PNG.
//
//   --server-bin FILE --repo DIR --out FILE.png
package org.baoming.demo.ui

import java.awt.Color
import java.awt.Container
import java.awt.RenderingHints
import java.awt.image.BufferedImage
import java.io.File
import java.nio.file.Files
import javax.imageio.ImageIO
import javax.swing.SwingUtilities
import kotlin.system.exitProcess
import org.baoming.demo.script.DevServer
import org.baoming.demo.script.Journey
import org.baoming.demo.viewmodel.AppViewModel
import org.baoming.demo.viewmodel.Screen

/** Lays out [c] and its children at their current sizes (no window is shown headless). */
private fun layoutTree(c: Container) {
    c.doLayout()
    for (child in c.components) if (child is Container) layoutTree(child)
}

/** Paints [shell] (its current screen) into a phone-sized image. */
private fun paint(shell: AppShell): BufferedImage {
    val img = BufferedImage(Theme.width, Theme.height, BufferedImage.TYPE_INT_RGB)
    SwingUtilities.invokeAndWait {
        val root = shell.root
        root.setSize(Theme.width, Theme.height)
        // Twice: scroll panes size their views from the first pass.
        layoutTree(root)
        layoutTree(root)
        val g = img.createGraphics()
        g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON)
        root.paint(g)
        g.dispose()
    }
    return img
}

fun main(args: Array<String>) {
    System.setProperty("java.awt.headless", "true")
    val opts = args.toList().chunked(2).associate { it[0] to it.getOrElse(1) { "" } }
    val repo = File(opts["--repo"] ?: ".")
    val out = File(opts["--out"] ?: "docs/mobile-demo.png")
    Theme.install(File(repo, "core/assets/fonts/NotoSansCJKsc-Regular.otf"))
    val wanted = Screen.entries.toList()
    val shots = linkedMapOf<Screen, BufferedImage>()
    val folder = Files.createTempDirectory("baoming-demo-shots-").toFile()
    var code = 0
    DevServer(File(opts["--server-bin"] ?: "target/debug/baoming-server"), repo).use { server ->
        AppViewModel(folder.path, server.url).use { app ->
            lateinit var shell: AppShell
            SwingUtilities.invokeAndWait { shell = AppShell(app) }
            fun settle() {
                // Let the observers' invokeLater renders run before painting.
                Thread.sleep(300)
                SwingUtilities.invokeAndWait {}
            }
            val journey = Journey(app, File(repo, "core/assets/samples/photo.jpg")) { screen ->
                // The first time each screen is shown: the refused password, the form's inline error.
                if (screen in wanted && screen !in shots) {
                    settle()
                    shots[screen] = paint(shell)
                }
            }
            try {
                journey.run()
            } catch (e: Exception) {
                println("the journey failed: $e")
                code = 1
            }
        }
    }
    folder.deleteRecursively()
    if (code != 0) exitProcess(code)
    val gap = 24
    val cols = 3
    val rows = (shots.size + cols - 1) / cols
    val sheet = BufferedImage(cols * Theme.width + (cols + 1) * gap, rows * Theme.height + (rows + 1) * gap, BufferedImage.TYPE_INT_RGB)
    val g = sheet.createGraphics()
    g.color = Color(0xdd, 0xe3, 0xea)
    g.fillRect(0, 0, sheet.width, sheet.height)
    shots.values.forEachIndexed { i, img ->
        g.drawImage(img, gap + (i % cols) * (Theme.width + gap), gap + (i / cols) * (Theme.height + gap), null)
    }
    g.dispose()
    out.parentFile?.mkdirs()
    ImageIO.write(sheet, "png", out)
    println("wrote $out (${shots.keys.joinToString { it.en }})")
    exitProcess(0)
}
