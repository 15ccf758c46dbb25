// The phone-sized shell: a title bar with the connection state and a menu of the screens, the
// current screen (one card per screen), and a banner for what concerns every screen.
package org.baoming.demo.ui

import java.awt.BorderLayout
import java.awt.CardLayout
import java.awt.Color
import java.awt.Dimension
import javax.swing.BorderFactory
import javax.swing.JButton
import javax.swing.JComponent
import javax.swing.JFrame
import javax.swing.JLabel
import javax.swing.JPanel
import javax.swing.JPopupMenu
import javax.swing.JMenuItem
import javax.swing.WindowConstants
import org.baoming.demo.viewmodel.AppState
import org.baoming.demo.viewmodel.AppViewModel
import org.baoming.demo.viewmodel.Screen

/** Every screen's panel, bound to [app]'s view-models, inside the app's shell. */
class AppShell(private val app: AppViewModel) {
    val screens: Map<Screen, JComponent> = mapOf(
        Screen.LOGIN to LoginScreen(app.login).component,
        Screen.ANNOUNCEMENTS to AnnouncementsScreen(app.announcements, app).component,
        Screen.AGREEMENT to AgreementScreen(app.agreement, app).component,
        Screen.FORM to FormScreen(app.form, app).component,
        Screen.CENTER to CenterScreen(app.center, app).component,
        Screen.PHOTO to PhotoScreen(app.photo, app).component,
        Screen.STATUS to StatusScreen(app.status, app).component,
        Screen.PAYMENT to PaymentScreen(app.payment, app).component,
        Screen.DOCUMENTS to DocumentsScreen(app.documents).component,
    )
    private val cards = CardLayout()
    private val deck = JPanel(cards)
    private val title = JLabel()
    private val connection = JLabel()
    private val banner = JButton()
    private val menu = JButton("≡")
    val root = JPanel(BorderLayout())

    init {
        screens.forEach { (s, c) -> deck.add(c, s.name) }
        val bar = JPanel(BorderLayout(8, 0)).apply {
            background = Theme.primary
            border = BorderFactory.createEmptyBorder(10, 12, 10, 12)
            title.font = Theme.font(17f, bold = true)
            title.foreground = Color.WHITE
            connection.font = Theme.font(12f)
            connection.foreground = Color.WHITE
            menu.font = Theme.font(16f, bold = true)
            menu.isFocusable = false
            add(menu, BorderLayout.WEST)
            add(title, BorderLayout.CENTER)
            add(connection, BorderLayout.EAST)
        }
        menu.addActionListener {
            val popup = JPopupMenu()
            for (s in Screen.entries.drop(1)) popup.add(JMenuItem("${s.zh}  ${s.en}").apply {
                font = Theme.font(14f)
                addActionListener { app.navigate(s) }
            })
            popup.show(menu, 0, menu.height)
        }
        banner.font = Theme.font(12f)
        banner.background = Color(0xff, 0xf3, 0xe0)
        banner.addActionListener { app.dismissBanner() }
        val top = JPanel(BorderLayout()).apply {
            add(bar, BorderLayout.NORTH)
            add(banner, BorderLayout.SOUTH)
        }
        root.add(top, BorderLayout.NORTH)
        root.add(deck, BorderLayout.CENTER)
        root.preferredSize = Dimension(Theme.width, Theme.height)
        app.state.observe { s -> onEdt { render(s) } }
    }

    private fun render(s: AppState) {
        cards.show(deck, s.screen.name)
        title.text = s.screen.zh
        menu.isVisible = s.accountId != null
        connection.text = when (s.online) {
            true -> "● 在线"
            false -> "○ 离线"
            null -> ""
        }
        banner.isVisible = s.banner != null
        banner.text = (s.banner ?: "") + "  ×"
    }
}

/** The desktop window around the shell, sized like a phone. */
fun openWindow(app: AppViewModel): JFrame = JFrame("报名 Baoming").apply {
    defaultCloseOperation = WindowConstants.DISPOSE_ON_CLOSE
    contentPane = AppShell(app).root
    isResizable = false
    pack()
    setLocationRelativeTo(null)
    isVisible = true
}
