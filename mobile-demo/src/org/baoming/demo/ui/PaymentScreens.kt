// The payment screen (the platform's page opens in the browser, as a phone opens it in a web
// view) and the documents screen.
package org.baoming.demo.ui

import java.awt.Desktop
import java.net.URI
import org.baoming.demo.viewmodel.AppViewModel
import org.baoming.demo.viewmodel.DocumentsState
import org.baoming.demo.viewmodel.DocumentsViewModel
import org.baoming.demo.viewmodel.PaymentState
import org.baoming.demo.viewmodel.PaymentViewModel
import org.baoming.demo.viewmodel.Screen
import org.baoming.demo.viewmodel.statusLabel

/** Amount, deadline, the payment page, "I have paid, refresh". */
class PaymentScreen(private val vm: PaymentViewModel, private val app: AppViewModel) :
    RebuiltScreen<PaymentState>(vm.state) {
    override fun build(s: PaymentState) {
        add(label("缴费", 18f, bold = true))
        val st = s.status
        if (st != null) add(label("当前状态：${statusLabel(st.status).first}", 13f, color = Theme.muted))
        val amount = s.order?.amountFen ?: st?.amountFen
        amount?.let { add(label("应缴 ¥${yuan(it)}", 22f, bold = true)) }
        (s.order?.expiresAtMs ?: st?.deadlineMs)?.takeIf { !s.paid }?.let { add(label("请在 ${at(it)} 前完成支付", 13f, color = Theme.danger)) }
        s.order?.let { add(paragraph("订单号 ${it.orderId}", 12f, Theme.muted)) }
        add(gap(12))
        if (s.paid) {
            add(label("✓ 已缴费", 18f, bold = true, color = Theme.ok))
            st?.receiptTradeNo?.let { add(paragraph("支付流水号 $it", 12f, Theme.muted)) }
            st?.paidAtMs?.let { add(label("支付时间 ${at(it)}", 12f, color = Theme.muted)) }
            add(gap())
            add(button("下载报名表", primary = true) { app.navigate(Screen.DOCUMENTS) })
        } else {
            add(button("去支付", primary = s.order == null) {
                vm.pay().thenAccept { order -> openBrowser(order.url) }
            })
            if (s.order != null) {
                add(gap())
                add(paragraph("已在浏览器中打开支付页面（未打开时请复制下面的地址）。支付完成后点“我已支付”。", 12f, Theme.muted))
                add(paragraph(s.order.url, 11f, Theme.primary).apply { isEnabled = true })
                add(gap())
                add(button("我已支付，刷新", primary = true) { vm.refresh() })
            }
        }
        if (s.busy) add(label("请稍候…", color = Theme.muted))
        add(errorLine(s.error))
    }

    /** Opens the payment page in the desktop's browser, as a phone opens it in a web view. */
    private fun openBrowser(url: String) {
        val opened = Desktop.isDesktopSupported() && Desktop.getDesktop().isSupported(Desktop.Action.BROWSE) &&
            runCatching { Desktop.getDesktop().browse(URI(url)) }.isSuccess
        // Without a browser the page's address stays on the screen to copy.
        if (!opened) println("payment page (no browser could be opened): $url")
    }
}

/** The registration form and the admission ticket. */
class DocumentsScreen(private val vm: DocumentsViewModel) : RebuiltScreen<DocumentsState>(vm.state) {
    override fun build(s: DocumentsState) {
        add(label("下载", 18f, bold = true))
        s.status?.let { add(label("当前状态：${statusLabel(it).first}", 13f, color = Theme.muted)) }
        s.ticketNumber?.let { add(label("准考证号 $it", 14f, bold = true)) }
        add(gap(12))
        add(button("下载报名登记表 (PDF)", primary = true) { vm.registrationForm() })
        add(gap())
        add(button("下载准考证 (PDF)") { vm.admissionTicket() })
        add(gap(12))
        for (d in s.saved) {
            add(label("✓ ${d.titleZh}：${d.bytes / 1024} KB", 13f, bold = true, color = Theme.ok))
            add(paragraph(d.file.name, 11f, Theme.muted))
            add(button("打开") { runCatching { java.awt.Desktop.getDesktop().open(d.file) } })
            add(gap())
        }
        if (s.busy) add(label("下载中…", color = Theme.muted))
        add(errorLine(s.error))
    }
}
