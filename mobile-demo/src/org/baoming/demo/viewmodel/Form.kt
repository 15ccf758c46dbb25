// The registration form with inline validation: every answer is stored on the device at once
// and the core's validator (the same rules the server runs on submit) says what is wrong,
// field by field.
package org.baoming.demo.viewmodel

import java.util.concurrent.CompletableFuture
import org.baoming.client.BaomingClient
import org.baoming.client.ChoiceInfo
import org.baoming.client.ValidationIssue

/** One field of the form as shown. */
data class FieldState(
    val key: String,
    val labelZh: String,
    val labelEn: String,
    /** `text`, `date`, `select`, `id_document`, `mobile`, `email`, `integer`. */
    val kind: String,
    val required: Boolean,
    /** The choices of a `select` field: the stored value and its label. */
    val options: List<ChoiceInfo>,
    val value: String,
    /** The validator's complaint about this field, shown under it (once touched). */
    val error: ValidationIssue? = null,
)

/** The form screen. */
data class FormState(
    val fields: List<FieldState> = emptyList(),
    val declared: Boolean = false,
    /** Fields the candidate has edited: only these show their errors until [showAll]. */
    val touched: Set<String> = emptySet(),
    /** After "check": every field shows its error. */
    val showAll: Boolean = false,
    /** Every issue of the draft (the other screens' too), from the last validation. */
    val issues: List<ValidationIssue> = emptyList(),
    val busy: Boolean = false,
    val error: UserMessage? = null,
) {
    /** The error to show under [key], if any. */
    fun visibleError(key: String): ValidationIssue? =
        fields.firstOrNull { it.key == key }?.error?.takeIf { showAll || key in touched }

    /** Whether the form part (fields and declaration) has no issue left. */
    val complete: Boolean get() = fields.all { it.error == null } && issues.none { it.path == "draft.declaration" }
}

private const val FIELD_PREFIX = "draft.fields."

/** Edits the draft's answers and validates them as the candidate types. */
class FormViewModel(private val client: BaomingClient, background: Background) :
    ExamScreenViewModel<FormState>(FormState(), background) {

    /** Reads the form, the stored answers and the issues. */
    fun reload(): CompletableFuture<Unit> = launch(
        busy = { it.copy(busy = true) },
        work = {
            val exam = client.exam(exam())
            val draft = client.draft(exam())
            val fields = exam.fields.map {
                FieldState(it.key, it.labelZh, it.labelEn, it.kind, it.required, it.options, draft.fields[it.key] ?: "")
            }
            Triple(fields, draft.declared, client.validate(exam()))
        },
        done = { s, (fields, declared, issues) -> withIssues(s.copy(busy = false, fields = fields, declared = declared, error = null), issues) },
        failed = { s, m -> s.copy(busy = false, error = m) },
    ).thenApply { }

    /** Stores an answer (an empty one removes it) and validates the draft again. */
    fun setValue(key: String, value: String): CompletableFuture<List<ValidationIssue>> = launch(
        busy = { s ->
            s.copy(touched = s.touched + key, fields = s.fields.map { if (it.key == key) it.copy(value = value) else it })
        },
        work = {
            if (value.isBlank()) client.clearField(exam(), key) else client.setField(exam(), key, value.trim())
            client.validate(exam())
        },
        done = { s, issues -> withIssues(s.copy(error = null), issues) },
        failed = { s, m -> s.copy(error = m) },
    )

    /** Gives the truthfulness declaration. */
    fun declare(): CompletableFuture<List<ValidationIssue>> = launch(
        busy = { it.copy(busy = true) },
        work = {
            client.declare(exam())
            client.validate(exam())
        },
        done = { s, issues -> withIssues(s.copy(busy = false, declared = true), issues) },
        failed = { s, m -> s.copy(busy = false, error = m) },
    )

    /** Validates and shows every field's error ("next" pressed). */
    fun checkAll(): CompletableFuture<List<ValidationIssue>> = launch(
        busy = { it.copy(showAll = true) },
        work = { client.validate(exam()) },
        done = { s, issues -> withIssues(s, issues) },
        failed = { s, m -> s.copy(error = m) },
    )

    private fun withIssues(s: FormState, issues: List<ValidationIssue>): FormState {
        val byField = issues.filter { it.path.startsWith(FIELD_PREFIX) }.groupBy { it.path.removePrefix(FIELD_PREFIX) }
        return s.copy(issues = issues, fields = s.fields.map { it.copy(error = byField[it.key]?.first()) })
    }
}
