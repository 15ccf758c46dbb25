// Looks: the CJK font the repository ships (so Chinese renders on any machine, headless too),
// colours, and small Swing helpers shared by the screens.
package org.baoming.demo.ui

import java.awt.Color
import java.awt.Component
import java.awt.Dimension
import java.awt.Font
import java.awt.GraphicsEnvironment
import java.io.File
import javax.swing.BorderFactory
import javax.swing.Box
import javax.swing.BoxLayout
import javax.swing.JButton
import javax.swing.JComponent
import javax.swing.JLabel
import javax.swing.JPanel
import javax.swing.JScrollPane
import javax.swing.JTextArea
import javax.swing.SwingUtilities
import javax.swing.UIManager
import javax.swing.plaf.FontUIResource
import org.baoming.demo.viewmodel.UserMessage

/** Colours and fonts of the app. */
object Theme {
    val primary = Color(0x1f, 0x5f, 0xbf)
    val danger = Color(0xc6, 0x28, 0x28)
    val ok = Color(0x2e, 0x7d, 0x32)
    val muted = Color(0x60, 0x60, 0x60)
    val surface = Color(0xf5, 0xf7, 0xfa)
    val width = 390
    val height = 844

    /** The base font (the repository's Noto Sans CJK), set once by [install]. */
    var base: Font = Font(Font.SANS_SERIF, Font.PLAIN, 14)
        private set

    /**
     * Loads the CJK font from [fontFile] (core/assets/fonts/NotoSansCJKsc-Regular.otf) and
     * makes it every Swing component's default; without it Chinese would show as boxes on a
     * machine without CJK fonts.
     */
    fun install(fontFile: File) {
        val font = Font.createFont(Font.TRUETYPE_FONT, fontFile)
        GraphicsEnvironment.getLocalGraphicsEnvironment().registerFont(font)
        base = font.deriveFont(Font.PLAIN, 14f)
        val resource = FontUIResource(base)
        for (key in UIManager.getLookAndFeelDefaults().keys.toList()) {
            if (key.toString().endsWith(".font")) UIManager.put(key, resource)
        }
    }

    fun font(size: Float, bold: Boolean = false): Font = base.deriveFont(if (bold) Font.BOLD else Font.PLAIN, size)
}

/** Runs [block] on the Swing thread (at once when already there). */
fun onEdt(block: () -> Unit) {
    if (SwingUtilities.isEventDispatchThread()) block() else SwingUtilities.invokeLater(block)
}

/** A vertical stack with margins, as the screens are laid out. */
fun column(): JPanel = JPanel().apply {
    layout = BoxLayout(this, BoxLayout.Y_AXIS)
    border = BorderFactory.createEmptyBorder(12, 16, 12, 16)
    background = Color.WHITE
}

/** A label, left-aligned in a column. */
fun label(text: String, size: Float = 14f, bold: Boolean = false, color: Color = Color.BLACK): JLabel =
    JLabel(text).apply {
        font = Theme.font(size, bold)
        foreground = color
        alignmentX = Component.LEFT_ALIGNMENT
    }

/** Wrapped text (labels do not wrap). */
fun paragraph(text: String, size: Float = 13f, color: Color = Color.BLACK): JTextArea = JTextArea(text).apply {
    isEditable = false
    lineWrap = true
    wrapStyleWord = false
    font = Theme.font(size)
    foreground = color
    background = null
    isOpaque = false
    border = null
    alignmentX = Component.LEFT_ALIGNMENT
    // Fixed width so the column computes the height of the wrapped text.
    setSize(Theme.width - 40, Short.MAX_VALUE.toInt())
    maximumSize = Dimension(Theme.width - 40, preferredSize.height)
}

/** A full-width button. */
fun button(text: String, primary: Boolean = false, action: () -> Unit): JButton = JButton(text).apply {
    font = Theme.font(15f, primary)
    alignmentX = Component.LEFT_ALIGNMENT
    maximumSize = Dimension(Int.MAX_VALUE, 40)
    if (primary) {
        background = Theme.primary
        foreground = Color.WHITE
    }
    addActionListener { action() }
}

/** A red line for an error, or nothing. */
fun errorLine(message: UserMessage?): JComponent =
    if (message == null) Box.createVerticalStrut(0) as JComponent else paragraph(message.zh, 13f, Theme.danger)

/** Vertical space. */
fun gap(h: Int = 8): Component = Box.createVerticalStrut(h)

/** A column that takes the viewport's width (so rows never run off the phone's edge). */
private class WidthTracking(content: JComponent) : JPanel(java.awt.BorderLayout()), javax.swing.Scrollable {
    init {
        add(content, java.awt.BorderLayout.NORTH)
        background = Color.WHITE
    }
    override fun getPreferredScrollableViewportSize(): Dimension = preferredSize
    override fun getScrollableUnitIncrement(r: java.awt.Rectangle, o: Int, d: Int) = 16
    override fun getScrollableBlockIncrement(r: java.awt.Rectangle, o: Int, d: Int) = r.height - 32
    override fun getScrollableTracksViewportWidth() = true
    override fun getScrollableTracksViewportHeight() = false
}

/** Scrolls [content] vertically only; it is as wide as the screen. */
fun scroll(content: JComponent): JScrollPane = JScrollPane(WidthTracking(content)).apply {
    border = null
    viewport.background = Color.WHITE
    horizontalScrollBarPolicy = JScrollPane.HORIZONTAL_SCROLLBAR_NEVER
    verticalScrollBar.unitIncrement = 16
}

/** Yuan from fen: `80.00`. */
fun yuan(fen: Long): String = "%d.%02d".format(fen / 100, fen % 100)
