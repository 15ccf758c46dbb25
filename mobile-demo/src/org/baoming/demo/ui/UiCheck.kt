// A headless check of the Swing front end's wiring, run after the scripted journey by
// run-scripted.sh: against a local server, it types into the login screen's fields and
// clicks its buttons (no display: the components are driven directly on the Swing thread) and
// checks that the view-models act and the panels render their state — sign-in and navigation,
// accepting the agreement, the form's inline validation error under the mobile field, and a
// choice list that shows labels and stores values.
//
//   --server-bin FILE --repo DIR
package org.baoming.demo.ui

import java.awt.Component
import java.awt.Container
import java.io.File
import java.nio.file.Files
import javax.swing.AbstractButton
import javax.swing.JComboBox
import javax.swing.JComponent
import javax.swing.JLabel
import javax.swing.JPasswordField
import javax.swing.JTextField
import javax.swing.SwingUtilities
import kotlin.system.exitProcess
import org.baoming.demo.script.DEMO_LOGIN
import org.baoming.demo.script.DEMO_PASSWORD
import org.baoming.demo.script.DevServer
import org.baoming.demo.viewmodel.AppViewModel
import org.baoming.demo.viewmodel.Screen

private class UiCheckFailed(message: String) : Exception(message)

/** Every component under [root], depth first. */
private fun all(root: Component): Sequence<Component> = sequence {
    yield(root)
    if (root is Container) for (c in root.components) yieldAll(all(c))
}

/** Runs [block] on the Swing thread and returns its value. */
private fun <T> edt(block: () -> T): T {
    var result: Result<T>? = null
    SwingUtilities.invokeAndWait { result = runCatching(block) }
    return result!!.getOrThrow()
}

/** Polls [condition] on the Swing thread for up to 20 s. */
private fun waitFor(what: String, condition: () -> Boolean) {
    val until = System.currentTimeMillis() + 20_000
    while (!edt(condition)) {
        if (System.currentTimeMillis() > until) throw UiCheckFailed("timed out waiting for $what")
        Thread.sleep(50)
    }
}

private fun texts(card: JComponent): List<String> =
    all(card).mapNotNull { (it as? JLabel)?.text ?: (it as? javax.swing.text.JTextComponent)?.takeIf { t -> !t.isEditable }?.text }.toList()

private fun button(card: JComponent, text: String): AbstractButton =
    all(card).filterIsInstance<AbstractButton>().firstOrNull { it.text == text } ?: throw UiCheckFailed("no button “$text”")

fun main(args: Array<String>) {
    System.setProperty("java.awt.headless", "true")
    val opts = args.toList().chunked(2).associate { it[0] to it.getOrElse(1) { "" } }
    val repo = File(opts["--repo"] ?: ".")
    Theme.install(File(repo, "core/assets/fonts/NotoSansCJKsc-Regular.otf"))
    val folder = Files.createTempDirectory("baoming-demo-ui-").toFile()
    var passed = 0
    fun ok(what: String) {
        passed++
        println("ok   [ui] $what")
    }
    val code = try {
        DevServer(File(opts["--server-bin"] ?: "target/debug/baoming-server"), repo).use { server ->
            AppViewModel(folder.path, server.url).use { app ->
                val shell = edt { AppShell(app) }
                val card = { s: Screen -> shell.screens.getValue(s) }

                edt {
                    all(card(Screen.LOGIN)).filterIsInstance<JTextField>().first { it !is JPasswordField }.text = DEMO_LOGIN
                    all(card(Screen.LOGIN)).filterIsInstance<JPasswordField>().first().text = DEMO_PASSWORD
                    button(card(Screen.LOGIN), "登录 Log in").doClick()
                }
                waitFor("the announcements screen") { app.state.value.screen == Screen.ANNOUNCEMENTS && card(Screen.ANNOUNCEMENTS).isVisible }
                app.ready.get()
                waitFor("the exam on the announcements screen") { texts(card(Screen.ANNOUNCEMENTS)).any { it.contains("全国计算机等级考试") } }
                ok("typed into the login screen and clicked 登录: signed in, the announcements shown")

                edt { button(card(Screen.ANNOUNCEMENTS), "开始报名").doClick() }
                waitFor("the agreement screen") { app.state.value.screen == Screen.AGREEMENT && card(Screen.AGREEMENT).isVisible }
                waitFor("the agreement's text") { texts(card(Screen.AGREEMENT)).any { it.startsWith("报名协议（") } }
                edt { button(card(Screen.AGREEMENT), "我已阅读并同意").doClick() }
                waitFor("the agreement accepted") { app.agreement.current.accepted && texts(card(Screen.AGREEMENT)).contains("✓ 已阅读并同意") }
                ok("clicked 开始报名 and 我已阅读并同意: the agreement is accepted and shown so")

                edt { button(card(Screen.AGREEMENT), "下一步：填写报名信息").doClick() }
                waitFor("the form") { app.state.value.screen == Screen.FORM && app.form.current.fields.isNotEmpty() }
                val mobile = edt {
                    val fields = all(card(Screen.FORM)).filterIsInstance<JTextField>().toList()
                    val textKeys = app.form.current.fields.filter { it.kind != "select" }.map { it.key }
                    fields[textKeys.indexOf("mobile")]
                }
                edt {
                    mobile.text = "1380013"
                    mobile.postActionEvent()
                }
                waitFor("the inline error under the mobile field") {
                    texts(card(Screen.FORM)).any { it.contains("请填写11位大陆手机号码") }
                }
                edt {
                    mobile.text = "13800138000"
                    mobile.postActionEvent()
                }
                waitFor("the inline error gone") { texts(card(Screen.FORM)).none { it.contains("请填写11位大陆手机号码") } }
                ok("typed a short mobile number: its error is shown under the field, and gone once fixed")

                // A choice shows its label and stores its value.
                val ethnicity = edt {
                    val boxes = all(card(Screen.FORM)).filterIsInstance<JComboBox<*>>().toList()
                    val selectKeys = app.form.current.fields.filter { it.kind == "select" }.map { it.key }
                    boxes[selectKeys.indexOf("ethnicity")]
                }
                edt {
                    val han = (0 until ethnicity.itemCount).map(ethnicity::getItemAt).first { it.toString() == "汉族" }
                    ethnicity.selectedItem = han
                }
                waitFor("the ethnicity stored as its value") {
                    app.form.current.fields.first { it.key == "ethnicity" }.value == "han"
                }
                ok("picked 汉族 in the ethnicity list: the draft stores `han`")
            }
        }
        println("$passed UI checks passed")
        0
    } catch (e: Throwable) {
        println("FAIL [ui] $e")
        println("$passed UI checks passed, 1 failed")
        1
    } finally {
        folder.deleteRecursively()
    }
    exitProcess(code)
}
