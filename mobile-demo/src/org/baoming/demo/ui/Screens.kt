// One Swing panel per screen. Each observes its view-model's state and renders it on the
// Swing thread; user input calls the view-model's actions (which run off the Swing thread).
package org.baoming.demo.ui

import java.awt.BorderLayout
import java.awt.Color
import java.awt.Component
import java.awt.Dimension
import java.awt.FlowLayout
import java.awt.Image
import java.awt.event.FocusAdapter
import java.awt.event.FocusEvent
import java.io.ByteArrayInputStream
import java.text.SimpleDateFormat
import java.util.Date
import javax.imageio.ImageIO
import javax.swing.BorderFactory
import javax.swing.ImageIcon
import javax.swing.JCheckBox
import javax.swing.JComboBox
import javax.swing.JComponent
import javax.swing.JFileChooser
import javax.swing.JLabel
import javax.swing.JPanel
import javax.swing.JPasswordField
import javax.swing.JTextField
import org.baoming.demo.viewmodel.AgreementState
import org.baoming.demo.viewmodel.AgreementViewModel
import org.baoming.demo.viewmodel.AnnouncementsState
import org.baoming.demo.viewmodel.AnnouncementsViewModel
import org.baoming.demo.viewmodel.AppViewModel
import org.baoming.demo.viewmodel.CenterState
import org.baoming.demo.viewmodel.CenterViewModel
import org.baoming.demo.viewmodel.FieldState
import org.baoming.demo.viewmodel.FormState
import org.baoming.demo.viewmodel.FormViewModel
import org.baoming.demo.viewmodel.LoginState
import org.baoming.demo.viewmodel.LoginViewModel
import org.baoming.demo.viewmodel.Observable
import org.baoming.demo.viewmodel.PhotoState
import org.baoming.demo.viewmodel.PhotoViewModel
import org.baoming.demo.viewmodel.Screen
import org.baoming.demo.viewmodel.StatusState
import org.baoming.demo.viewmodel.StatusViewModel
import org.baoming.demo.viewmodel.StepState
import org.baoming.demo.viewmodel.statusLabel
import org.baoming.client.PhotoCheck

private val dateTime = SimpleDateFormat("yyyy-MM-dd HH:mm")

/** A date and time from Unix milliseconds. */
fun at(ms: Long): String = dateTime.format(Date(ms))

/**
 * A screen that renders by rebuilding its column from the state (cheap for these small
 * screens; the form keeps its text fields instead, so typing is not disturbed).
 */
abstract class RebuiltScreen<S>(state: Observable<S>) {
    protected val column = column()
    val component: JComponent = scroll(column)

    init {
        state.observe { s -> onEdt { render(s) } }
    }

    /** Shows [s] (on the Swing thread). */
    protected fun render(s: S) {
        column.removeAll()
        build(s)
        column.revalidate()
        column.repaint()
    }

    /** Adds the components showing [s] to [column]. */
    protected abstract fun build(s: S)

    protected fun add(c: Component) { column.add(c) }
}

/** Account and password, the captcha when asked, log in or register. */
class LoginScreen(private val vm: LoginViewModel) {
    private val login = JTextField()
    private val password = JPasswordField()
    private val captchaAnswer = JTextField()
    private val captchaImage = JLabel()
    private val captchaRow = JPanel(BorderLayout(8, 0))
    private val error = paragraph("", 13f, Theme.danger)
    private val logIn = button("登录 Log in", primary = true) { commit(); vm.logIn() }
    private val register = button("注册新账号 Register") { commit(); vm.register() }
    val component: JComponent

    init {
        val c = column()
        c.add(gap(40))
        c.add(label("报名 Baoming", 28f, bold = true, color = Theme.primary))
        c.add(label("考试报名 · 移动端演示", 15f, color = Theme.muted))
        c.add(gap(32))
        c.add(label("手机号或邮箱"))
        c.add(fieldBox(login))
        c.add(gap())
        c.add(label("密码"))
        c.add(fieldBox(password))
        captchaRow.isOpaque = false
        captchaRow.add(captchaImage, BorderLayout.WEST)
        captchaRow.add(captchaAnswer, BorderLayout.CENTER)
        captchaRow.alignmentX = Component.LEFT_ALIGNMENT
        captchaRow.maximumSize = Dimension(Int.MAX_VALUE, 50)
        c.add(gap())
        c.add(captchaRow)
        c.add(gap())
        c.add(error)
        c.add(gap(16))
        c.add(logIn)
        c.add(gap())
        c.add(register)
        component = c
        vm.state.observe { s -> onEdt { render(s) } }
    }

    private fun commit() = vm.edit(login.text, String(password.password), captchaAnswer.text)

    private fun render(s: LoginState) {
        if (login.text != s.login) login.text = s.login
        if (String(password.password) != s.password) password.text = s.password
        captchaRow.isVisible = s.captchaId != null
        captchaImage.icon = s.captchaPng?.let { ImageIcon(it) }
        error.text = s.error?.zh ?: ""
        logIn.isEnabled = !s.busy
        register.isEnabled = !s.busy
        logIn.text = if (s.busy) "请稍候…" else "登录 Log in"
    }
}

/** A text field sized for a column. */
fun fieldBox(f: JComponent): JComponent = f.apply {
    font = Theme.font(15f)
    alignmentX = Component.LEFT_ALIGNMENT
    maximumSize = Dimension(Int.MAX_VALUE, 34)
}

/** The exams of the catalog and the chosen one's announcements. */
class AnnouncementsScreen(vm: AnnouncementsViewModel, private val app: AppViewModel) :
    RebuiltScreen<AnnouncementsState>(vm.state) {
    override fun build(s: AnnouncementsState) {
        if (s.offline) add(paragraph("离线：显示的是本机缓存的考试信息", 12f, Theme.muted))
        if (s.busy && s.exams.isEmpty()) add(label("正在加载…", color = Theme.muted))
        for (e in s.exams) {
            add(label(e.nameZh, 16f, bold = true))
            add(paragraph("报名时间 ${at(e.opensMs)} 至 ${at(e.closesMs)}；提交后 ${e.paymentWindowHours} 小时内缴费；${e.centers} 个考点", 12f, Theme.muted))
            add(gap(12))
        }
        add(label("公告", 16f, bold = true, color = Theme.primary))
        for (n in s.notices) {
            add(gap(6))
            add(label(n.title, 14f, bold = true))
            if (n.atMs != null) add(label(at(n.atMs), 11f, color = Theme.muted))
            add(paragraph(n.body, 13f))
        }
        if (s.notices.isEmpty() && !s.busy) add(paragraph("暂无公告", 13f, Theme.muted))
        add(errorLine(s.error))
        add(gap(16))
        add(button("开始报名", primary = true) { app.navigate(Screen.AGREEMENT) })
    }
}

/** The agreement's text and the accept button. */
class AgreementScreen(private val vm: AgreementViewModel, private val app: AppViewModel) :
    RebuiltScreen<AgreementState>(vm.state) {
    override fun build(s: AgreementState) {
        add(label("报名协议（${s.version}）", 16f, bold = true))
        add(gap())
        add(paragraph(s.text, 13f))
        add(gap(12))
        add(errorLine(s.error))
        if (s.accepted) {
            add(label("✓ 已阅读并同意", 14f, bold = true, color = Theme.ok))
            add(gap())
            add(button("下一步：填写报名信息", primary = true) { app.navigate(Screen.FORM) })
        } else {
            add(button("我已阅读并同意", primary = true) { vm.accept() })
        }
    }
}

/** The form, one input per field, errors under the fields as the candidate types. */
class FormScreen(private val vm: FormViewModel, private val app: AppViewModel) {
    private val column = column()
    val component: JComponent = scroll(column)
    private var keys: List<String> = emptyList()
    private val inputs = mutableMapOf<String, JComponent>()
    private val errors = mutableMapOf<String, JLabel>()
    private val declare = JCheckBox("本人承诺所填信息真实有效").apply { font = Theme.font(13f); isOpaque = false }
    private val footer = JPanel().apply { isOpaque = false; alignmentX = Component.LEFT_ALIGNMENT; layout = javax.swing.BoxLayout(this, javax.swing.BoxLayout.Y_AXIS) }
    private var rendering = false

    init {
        declare.addActionListener { if (!rendering && declare.isSelected) vm.declare() }
        vm.state.observe { s -> onEdt { render(s) } }
    }

    private fun render(s: FormState) {
        rendering = true
        try {
            if (s.fields.map { it.key } != keys) rebuild(s.fields)
            for (f in s.fields) {
                val input = inputs[f.key]
                when (input) {
                    is JTextField -> if (!input.hasFocus() && input.text != f.value) input.text = f.value
                    is JComboBox<*> -> if ((input.selectedItem as Choice?)?.value != f.value) {
                        input.selectedItem = (0 until input.itemCount).map(input::getItemAt)
                            .firstOrNull { (it as Choice).value == f.value }
                    }
                }
                val issue = s.visibleError(f.key)
                errors[f.key]?.text = issue?.messageZh ?: " "
                input?.border = BorderFactory.createLineBorder(if (issue != null) Theme.danger else Color.LIGHT_GRAY)
            }
            declare.isSelected = s.declared
            declare.isEnabled = !s.declared
            footer.removeAll()
            s.error?.let { footer.add(errorLine(it)) }
            val left = s.fields.count { it.error != null }
            footer.add(label(if (left == 0) "✓ 报名信息已填写完整" else "还有 $left 项需要填写或更正", 13f, color = if (left == 0) Theme.ok else Theme.muted))
            footer.add(gap())
            footer.add(button("下一步：选择考点与科目", primary = true) {
                vm.checkAll().thenAccept { issues ->
                    if (issues.none { it.path.startsWith("draft.fields.") }) onEdt { app.navigate(Screen.CENTER) }
                }
            })
            column.revalidate()
            column.repaint()
        } finally {
            rendering = false
        }
    }

    private fun rebuild(fields: List<FieldState>) {
        column.removeAll()
        inputs.clear()
        errors.clear()
        column.add(label("报名信息", 18f, bold = true))
        column.add(label("边填边检查；离线时也会保存在本机", 12f, color = Theme.muted))
        for (f in fields) {
            column.add(gap(6))
            column.add(label(f.labelZh + if (f.required) " *" else "", 13f, bold = true))
            val input: JComponent = if (f.kind == "select") {
                val choices = listOf(Choice("", "")) + f.options.map { Choice(it.value, it.labelZh) }
                JComboBox(choices.toTypedArray()).apply {
                    addActionListener { if (!rendering) vm.setValue(f.key, (selectedItem as Choice?)?.value ?: "") }
                }
            } else {
                JTextField().apply {
                    toolTipText = hint(f.kind)
                    addActionListener { vm.setValue(f.key, text) }
                    addFocusListener(object : FocusAdapter() {
                        override fun focusLost(e: FocusEvent) {
                            if (text != vm.current.fields.firstOrNull { it.key == f.key }?.value) vm.setValue(f.key, text)
                        }
                    })
                }
            }
            inputs[f.key] = input
            column.add(fieldBox(input))
            val error = label(" ", 12f, color = Theme.danger)
            errors[f.key] = error
            column.add(error)
        }
        column.add(gap())
        column.add(declare.apply { alignmentX = Component.LEFT_ALIGNMENT })
        column.add(gap())
        column.add(footer)
        keys = fields.map { it.key }
    }

    private fun hint(kind: String) = when (kind) {
        "date" -> "YYYY-MM-DD"
        "id_document" -> "resident_id:110105…"
        "mobile" -> "13800138000"
        else -> null
    }
}

/** A `select` field's choice in its combo box: shows the label, stores the value. */
private data class Choice(val value: String, val label: String) {
    override fun toString() = label
}

/** Centers with live seats, the chosen center's subjects with their seats and fees. */
class CenterScreen(private val vm: CenterViewModel, private val app: AppViewModel) :
    RebuiltScreen<CenterState>(vm.state) {
    override fun build(s: CenterState) {
        add(label("选择考点", 18f, bold = true))
        add(label(s.seatsAtMs?.let { "余位实时更新 · ${SimpleDateFormat("HH:mm:ss").format(Date(it))}" } ?: "余位：离线，暂无数据", 11f, color = Theme.muted))
        for (c in s.centers) {
            val chosen = c.id == s.center
            val seats = when {
                c.cancelled -> "已取消"
                c.free == null -> "余位 —"
                else -> "余位 ${c.free}/${c.capacity}"
            }
            val row = JPanel(BorderLayout(6, 0)).apply {
                alignmentX = Component.LEFT_ALIGNMENT
                maximumSize = Dimension(Int.MAX_VALUE, 54)
                background = if (chosen) Color(0xe3, 0xee, 0xfd) else Theme.surface
                border = BorderFactory.createCompoundBorder(
                    BorderFactory.createMatteBorder(0, 0, 2, 0, Color.WHITE),
                    BorderFactory.createEmptyBorder(6, 8, 6, 8),
                )
                val text = JPanel().apply {
                    isOpaque = false
                    layout = javax.swing.BoxLayout(this, javax.swing.BoxLayout.Y_AXIS)
                    add(label((if (chosen) "● " else "○ ") + c.nameZh, 13f, bold = chosen))
                    add(label(if (c.review) "  需审核后缴费" else "  无需审核", 11f, color = Theme.muted))
                }
                add(text, BorderLayout.CENTER)
                add(label(seats, 12f, bold = true, color = if ((c.free ?: 1) > 0) Theme.ok else Theme.danger), BorderLayout.EAST)
                addMouseListener(object : java.awt.event.MouseAdapter() {
                    override fun mouseClicked(e: java.awt.event.MouseEvent) { vm.choose(c.id) }
                })
            }
            add(row)
        }
        if (s.dropped.isNotEmpty()) add(paragraph("新考点不开设，已移除：${s.dropped.joinToString("、")}", 12f, Theme.danger))
        if (s.center != null) {
            add(gap(12))
            add(label("选择科目（最多 ${s.subjectCap} 科）", 16f, bold = true))
            for (sub in s.subjects) {
                val box = JCheckBox("${sub.code} ${sub.nameZh}").apply {
                    font = Theme.font(13f)
                    isSelected = sub.chosen
                    isOpaque = false
                    addActionListener { vm.toggle(sub.code) }
                }
                val line = JPanel(BorderLayout()).apply {
                    isOpaque = false
                    alignmentX = Component.LEFT_ALIGNMENT
                    maximumSize = Dimension(Int.MAX_VALUE, 30)
                    add(box, BorderLayout.CENTER)
                    add(label("¥${yuan(sub.feeFen)} · 余${sub.free ?: "—"}", 12f, color = if ((sub.free ?: 1) > 0) Theme.muted else Theme.danger), BorderLayout.EAST)
                }
                add(line)
                sub.issue?.let { add(paragraph("  " + it.messageZh, 12f, Theme.danger)) }
            }
            add(gap())
            add(label("合计 ¥${yuan(s.totalFen)}", 15f, bold = true))
        }
        for (i in s.issues) add(paragraph(i.messageZh, 12f, Theme.danger))
        add(errorLine(s.error))
        add(gap(12))
        add(button("下一步：照片", primary = true) { app.navigate(Screen.PHOTO) })
    }
}

/** Pick a picture, see its report, prepare, preview, attach. */
class PhotoScreen(private val vm: PhotoViewModel, private val app: AppViewModel) :
    RebuiltScreen<PhotoState>(vm.state) {
    override fun build(s: PhotoState) {
        add(label("报名照片", 18f, bold = true))
        add(paragraph("选一张近期正面免冠照片，应用会在手机上自动裁剪、压缩到符合要求。", 12f, Theme.muted))
        add(gap())
        add(button("从相册选择…") { pickFile() })
        if (s.pickedName != null) {
            add(gap())
            add(label("原图：${s.pickedName}", 13f, bold = true))
            s.pickedReport?.let { report(it) }
            add(gap())
            add(button("自动处理照片", primary = s.prepared == null) { vm.prepare() })
        }
        s.prepared?.let { p ->
            add(gap())
            val img = ImageIO.read(ByteArrayInputStream(p.jpeg))
            val h = 180
            val w = img.width * h / img.height
            add(JLabel(ImageIcon(img.getScaledInstance(w, h, Image.SCALE_SMOOTH))).apply { alignmentX = Component.LEFT_ALIGNMENT })
            add(label("处理后 ${p.width}×${p.height}，${p.jpeg.size / 1024} KB", 13f, bold = true))
            s.preparedReport?.let { report(it) }
            if (p.warnings.isNotEmpty()) add(paragraph("提示：" + p.warnings.joinToString("、"), 12f, Theme.muted))
            add(gap())
            if (s.attachedSha256 == null) add(button("使用这张照片", primary = true) { vm.attach() })
        }
        if (s.attachedSha256 != null) {
            add(label(if (s.uploaded) "✓ 照片已上传" else "✓ 已保存，下次同步时上传", 14f, bold = true, color = Theme.ok))
            add(gap())
            add(button("下一步：提交报名", primary = true) { app.navigate(Screen.STATUS) })
        }
        if (s.busy) add(label("处理中…", color = Theme.muted))
        add(errorLine(s.error))
    }

    private fun report(r: PhotoCheck) {
        val size = "${r.width ?: "?"}×${r.height ?: "?"}，${r.bytes.toLong() / 1024} KB"
        if (r.passed) add(label("✓ 符合要求（$size）", 13f, color = Theme.ok))
        else {
            add(label("× 不符合要求（$size）", 13f, color = Theme.danger))
            for (p in r.problems) add(paragraph(" · " + p.messageZh, 12f, Theme.danger))
        }
    }

    private fun pickFile() {
        val chooser = JFileChooser()
        if (chooser.showOpenDialog(component) == JFileChooser.APPROVE_OPTION) {
            val f = chooser.selectedFile
            vm.pick(f.name, f.readBytes())
        }
    }
}

/** The timeline, the deadline, what is missing, submit / sync / withdraw. */
class StatusScreen(private val vm: StatusViewModel, private val app: AppViewModel) :
    RebuiltScreen<StatusState>(vm.state) {
    init {
        // The time left to pay counts down while the screen is up.
        javax.swing.Timer(30_000) { if (vm.current.status?.deadlineMs != null) render(vm.current) }.start()
    }

    override fun build(s: StatusState) {
        val st = s.status
        add(label("报名状态", 18f, bold = true))
        if (s.offline) add(label("离线：上次同步时的状态", 11f, color = Theme.muted))
        if (st == null) {
            add(label(if (s.busy) "正在查询…" else "尚未查询", color = Theme.muted))
        } else {
            add(gap())
            for (step in s.timeline) {
                val (mark, color) = when (step.state) {
                    StepState.DONE -> "●" to Theme.ok
                    StepState.CURRENT -> "◉" to Theme.primary
                    StepState.TODO -> "○" to Color.GRAY
                    StepState.FAILED -> "×" to Theme.danger
                }
                add(label("$mark  ${step.zh}  ${step.en}", 14f, bold = step.state == StepState.CURRENT, color = color))
                add(gap(4))
            }
            st.reason?.let { add(paragraph("原因：$it", 13f, Theme.danger)) }
            st.deadlineMs?.let { d ->
                add(gap())
                add(label("缴费截止 ${at(d)}", 14f, bold = true, color = Theme.danger))
                add(label("剩余 ${s.remaining(System.currentTimeMillis())}", 13f, color = Theme.danger))
            }
            st.amountFen?.let { add(label("费用 ¥${yuan(it)}", 14f)) }
            if (st.seats.isNotEmpty()) add(label("已锁定座位：${st.center ?: ""} ${st.seats.joinToString("、")}", 12f, color = Theme.muted))
            st.paymentReference?.let { add(label("订单号 $it", 12f, color = Theme.muted)) }
            st.receiptTradeNo?.let { add(label("支付流水号 $it", 12f, color = Theme.muted)) }
            st.refundedFen?.takeIf { it > 0 }?.let { add(label("已退款 ¥${yuan(it)}", 13f, color = Theme.danger)) }
            if (st.refundDue) add(label("退款处理中", 13f, color = Theme.danger))
            st.ticketNumber?.let { add(label("准考证号 $it", 14f, bold = true)) }
        }
        if (s.missing.isNotEmpty()) {
            add(gap())
            add(label("提交前还需要：", 13f, bold = true))
            for (i in s.missing) add(paragraph(" · " + i.messageZh, 12f, Theme.danger))
        }
        if (s.queued.isNotEmpty()) add(paragraph("待发送：" + s.queued.joinToString("、") + "（联网后自动发送）", 12f, Theme.muted))
        s.lastOutcome?.let { add(paragraph("结果：$it", 12f, Theme.muted)) }
        add(errorLine(s.error))
        add(gap(12))
        val status = st?.status ?: "draft"
        if (status == "draft") add(button("提交报名", primary = s.missing.isEmpty()) { vm.submit() })
        if (status == "submitted" || status == "approved" || status == "awaiting_payment") {
            add(button("去缴费", primary = true) { app.navigate(Screen.PAYMENT) })
            add(gap())
        }
        if (status == "paid" || status == "confirmed") add(button("下载报名表", primary = true) { app.navigate(Screen.DOCUMENTS) })
        add(gap())
        add(button(if (s.busy) "同步中…" else "立即同步") { vm.sync() })
        if (status in setOf("submitted", "under_review", "approved", "awaiting_payment")) {
            add(gap())
            add(button("撤回报名") { vm.withdraw() })
        }
        add(gap())
        add(label("状态：${statusLabel(status).first}", 11f, color = Theme.muted))
    }
}
