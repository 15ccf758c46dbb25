// What the candidate is told when a call fails: one message per `BaomingException` variant,
// in Chinese (shown by the app) and English (printed by the scripted journey and logs).
package org.baoming.demo.viewmodel

import org.baoming.client.BaomingException

/** A message for the candidate, in both languages, and the variant it came from. */
data class UserMessage(val zh: String, val en: String, val kind: String) {
    override fun toString() = "$en ($kind)"

    companion object {
        /** The message for any failure of a bindings call (or of the app's own code). */
        fun of(e: Throwable): UserMessage = when (e) {
            is BaomingException.Network ->
                UserMessage("网络不可用，修改已保存在本机，联网后自动同步", "No connection: your changes are kept on this phone and sync when you are back online", "network")
            is BaomingException.WrongCredentials ->
                UserMessage("账号或密码错误", "Wrong account or password", "wrong_credentials")
            is BaomingException.CaptchaRequired ->
                UserMessage("请输入图中的验证码后再登录", "Enter the characters in the picture, then log in again", "captcha_required")
            is BaomingException.CaptchaWrong ->
                UserMessage("验证码错误，已换一张", "Wrong captcha: here is a new one", "captcha_wrong")
            is BaomingException.TooManyRequests ->
                UserMessage("尝试次数过多，请稍后再试", "Too many attempts: wait a moment and try again", "too_many_requests")
            is BaomingException.SignInRequired ->
                UserMessage("登录已失效，请重新登录", "Your session ended: log in again", "sign_in_required")
            is BaomingException.NotEditable ->
                UserMessage("当前状态下不能修改此项（${e.path}）", "This cannot be changed now (${e.path})", "not_editable")
            is BaomingException.InvalidInput ->
                UserMessage("输入无效：${e.detail}", "Invalid input: ${e.detail}", "invalid_input")
            is BaomingException.NoCatalog ->
                UserMessage("尚未下载考试信息，请联网后刷新", "No exam information yet: refresh once online", "no_catalog")
            is BaomingException.PhotoRejected ->
                UserMessage("照片不符合要求：${e.problems.joinToString("、")}", "The photo cannot be used: ${e.detail}", "photo_rejected")
            is BaomingException.ActionNotQueued ->
                UserMessage("暂时不能提交：${e.detail}", "Cannot do that yet: ${e.detail}", "action_not_queued")
            is BaomingException.Closed ->
                UserMessage("应用已关闭，请重新打开", "The app was closed: open it again", "closed")
            is BaomingException.Busy ->
                UserMessage("正在同步，请稍候", "A sync is running: wait a moment", "busy")
            is BaomingException.Server ->
                UserMessage("服务器拒绝了请求（${e.code}）：${e.detail}", "The server refused (${e.code}): ${e.detail}", "server")
            is BaomingException.Storage ->
                UserMessage("本机存储出错：${e.detail}", "Storage on this phone failed: ${e.detail}", "storage")
            is BaomingException.NotPaid ->
                UserMessage("缴费后才能下载报名表（当前状态：${e.status}）", "The registration form is available once paid (status ${e.status})", "not_paid")
            is BaomingException.PrintingWindowClosed ->
                UserMessage("未到准考证打印时间" + (e.opensMs?.let { "，${java.text.SimpleDateFormat("yyyy-MM-dd HH:mm").format(java.util.Date(it))} 开放" } ?: ""),
                    "Admission tickets are not printable now" + (e.opensMs?.let { "; printing opens at ${java.time.Instant.ofEpochMilli(it)}" } ?: ""), "printing_window_closed")
            is BaomingException.NotEligible ->
                UserMessage(
                    when (e.reason) {
                        "not_paid" -> "请先缴费"
                        "not_confirmed_on_site" -> "请先到考点现场确认"
                        "not_arranged" -> "考点尚未编排考场，请稍后再试"
                        "cancelled" -> when (e.refund) {
                            "due" -> "本考点考试已取消，报名费将退还"
                            "refunded" -> "本考点考试已取消，报名费已退还"
                            else -> "本考点考试已取消"
                        }
                        else -> "请先提交报名"
                    } + if (e.reason == "cancelled") "，没有准考证" else "，才能下载准考证",
                    if (e.reason == "cancelled") "The exam was cancelled here; no admission ticket (refund: ${e.refund.ifEmpty { "none" }})"
                    else "No admission ticket yet (${e.reason})", "not_eligible",
                )
            is BaomingException.InvalidTicket ->
                UserMessage("准考证无效（${e.code}）", "The ticket does not verify (${e.code})", "invalid_ticket")
            is BaomingException ->
                UserMessage("操作失败：${e.message}", "Failed: ${e.message}", "other")
            else ->
                UserMessage("应用内部错误：$e", "Internal error: $e", "internal")
        }
    }
}
