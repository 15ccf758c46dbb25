// The view-model layer's plumbing, as an Android app's ViewModels would use it, with the
// Kotlin standard library only (no coroutines, no AndroidX): an observable state holder, the
// background executor every bindings call runs on, and the base class of the screens.
package org.baoming.demo.viewmodel

import java.util.concurrent.CompletableFuture
import java.util.concurrent.CopyOnWriteArrayList
import java.util.concurrent.ExecutorService
import java.util.concurrent.Executors
import java.util.concurrent.ScheduledExecutorService
import java.util.concurrent.ScheduledFuture
import java.util.concurrent.TimeUnit

/** Something to stop observing. */
fun interface Subscription {
    /** Stops the notifications. */
    fun cancel()
}

/**
 * A value that tells its observers when it changes, like a `StateFlow` without coroutines:
 * [value] is always the latest state; observers are called on the thread that changed it
 * (the UI hops to its own thread, as Android's `observe` would on the main looper).
 */
class Observable<T>(initial: T) {
    @Volatile
    var value: T = initial
        private set
    private val observers = CopyOnWriteArrayList<(T) -> Unit>()

    /** Calls [observer] with the current value now and with every later value. */
    fun observe(observer: (T) -> Unit): Subscription {
        observers.add(observer)
        observer(value)
        return Subscription { observers.remove(observer) }
    }

    /**
     * Replaces the value with `transform(value)` atomically and, if it changed, notifies the
     * observers with the latest value (so a slower notification never shows an older state).
     */
    fun update(transform: (T) -> T) {
        val changed = synchronized(this) {
            val next = transform(value)
            (next != value).also { value = next }
        }
        if (changed) observers.forEach { it(value) }
    }
}

/**
 * Where bindings calls run: one background thread, so calls never block the UI thread and run
 * in the order the candidate made them; plus a timer for periodic work (live seats, sync).
 */
class Background : AutoCloseable {
    private val worker: ExecutorService = Executors.newSingleThreadExecutor { r ->
        Thread(r, "baoming-io").apply { isDaemon = true }
    }
    private val timer: ScheduledExecutorService = Executors.newSingleThreadScheduledExecutor { r ->
        Thread(r, "baoming-timer").apply { isDaemon = true }
    }

    /** Runs [block] on the worker thread; the future completes with its result or failure. */
    fun <T> submit(block: () -> T): CompletableFuture<T> = CompletableFuture.supplyAsync(block, worker)

    /** Runs [block] on the worker thread every [periodMs] until the returned handle is cancelled. */
    fun every(periodMs: Long, block: () -> Unit): ScheduledFuture<*> =
        timer.scheduleWithFixedDelay({ worker.execute(block) }, periodMs, periodMs, TimeUnit.MILLISECONDS)

    override fun close() {
        timer.shutdownNow()
        worker.shutdown()
        worker.awaitTermination(30, TimeUnit.SECONDS)
    }
}

/**
 * Base of every screen's view-model: holds its immutable state in an [Observable] and runs
 * its actions on [Background]. An action's future completes once its state is updated (the
 * scripted journey waits on it; the UI ignores it and renders the state).
 */
abstract class ScreenViewModel<S>(initial: S, protected val background: Background) {
    /** The screen's state; render it. */
    val state = Observable(initial)

    /** The current state. */
    val current: S get() = state.value

    /**
     * Runs [work] off the UI thread. [busy] marks the state as working first; [done] folds
     * the result into the state; a failure becomes the state's user-facing message through
     * [failed] and fails the returned future.
     */
    protected fun <T> launch(
        busy: (S) -> S,
        work: () -> T,
        done: (S, T) -> S,
        failed: (S, UserMessage) -> S,
    ): CompletableFuture<T> {
        state.update(busy)
        val result = CompletableFuture<T>()
        background.submit(work).whenComplete { value, error ->
            if (error == null) {
                state.update { done(it, value) }
                result.complete(value)
            } else {
                val cause = unwrap(error)
                state.update { failed(it, UserMessage.of(cause)) }
                result.completeExceptionally(cause)
            }
        }
        return result
    }
}

/** The cause of a failure of [CompletableFuture.supplyAsync]. */
internal fun unwrap(t: Throwable): Throwable =
    if (t is java.util.concurrent.CompletionException && t.cause != null) t.cause!! else t
