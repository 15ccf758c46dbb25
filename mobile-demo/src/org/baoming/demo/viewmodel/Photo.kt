// The photo screen: pick a picture, see the checker's report on it, prepare a compliant photo
// from it (orientation, face-aware crop, re-encode, all on the device), preview it with its
// own report, and attach it (uploaded by the next sync).
package org.baoming.demo.viewmodel

import java.util.concurrent.CompletableFuture
import org.baoming.client.BaomingClient
import org.baoming.client.PhotoCheck
import org.baoming.client.PreparedPhoto

/** The photo screen. */
data class PhotoState(
    val pickedName: String? = null,
    val picked: ByteArray? = null,
    /** The checker's report on the picked picture as it is. */
    val pickedReport: PhotoCheck? = null,
    val prepared: PreparedPhoto? = null,
    /** The checker's report on the prepared photo (what will be uploaded). */
    val preparedReport: PhotoCheck? = null,
    /** The attached photo's SHA-256 (from the draft). */
    val attachedSha256: String? = null,
    /** Whether the attached photo reached the server. */
    val uploaded: Boolean = false,
    val busy: Boolean = false,
    val error: UserMessage? = null,
)

/** Picks, prepares, previews and attaches the candidate's photo. */
class PhotoViewModel(private val client: BaomingClient, background: Background) :
    ExamScreenViewModel<PhotoState>(PhotoState(), background) {

    /** Reads which photo the draft refers to. */
    fun reload(): CompletableFuture<Unit> = launch(
        busy = { it },
        work = { client.draft(exam()).photoSha256 },
        done = { s, sha -> s.copy(attachedSha256 = sha) },
        failed = { s, m -> s.copy(error = m) },
    ).thenApply { }

    /** The candidate picked a picture (camera or gallery): check it as it is. */
    fun pick(name: String, bytes: ByteArray): CompletableFuture<PhotoCheck> = launch(
        busy = { it.copy(busy = true, error = null, pickedName = name, picked = bytes, prepared = null, preparedReport = null) },
        work = { client.checkPhoto(exam(), bytes) },
        done = { s, report -> s.copy(busy = false, pickedReport = report) },
        failed = { s, m -> s.copy(busy = false, error = m) },
    )

    /** Makes a compliant photo from the picked picture and checks the result. */
    fun prepare(): CompletableFuture<PreparedPhoto> = launch(
        busy = { it.copy(busy = true, error = null) },
        work = {
            val picked = current.picked ?: throw IllegalStateException("pick a picture first")
            val prepared = client.preparePhoto(exam(), picked)
            prepared to client.checkPhoto(exam(), prepared.jpeg)
        },
        done = { s, (p, r) -> s.copy(busy = false, prepared = p, preparedReport = r) },
        failed = { s, m -> s.copy(busy = false, error = m) },
    ).thenApply { it.first }

    /** Attaches the prepared photo to the draft. */
    fun attach(): CompletableFuture<String> = launch(
        busy = { it.copy(busy = true, error = null) },
        work = {
            val prepared = current.prepared ?: throw IllegalStateException("prepare the photo first")
            client.attachPhoto(exam(), prepared.jpeg)
        },
        done = { s, sha -> s.copy(busy = false, attachedSha256 = sha, uploaded = false) },
        failed = { s, m -> s.copy(busy = false, error = m) },
    )

    /** The client uploaded a photo (listener event). */
    fun onUploaded(sha256: String) = state.update { if (it.attachedSha256 == sha256) it.copy(uploaded = true) else it }
}
