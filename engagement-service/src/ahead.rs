//! Producing on a second thread, a few thousand items ahead of the consumer:
//! reading and parsing an event file or a log overlaps applying it.

/// Runs `produce` on a second thread, handing what it emits, in order and in
/// batches, to `consume` on this one. Memory stays flat: the producer waits
/// when it is a few batches ahead. `Err` when the producer panicked.
pub fn ahead<T: Send, R: Send, O>(
    produce: impl FnOnce(&mut dyn FnMut(T)) -> R + Send,
    consume: impl FnOnce(&mut dyn Iterator<Item = T>) -> O,
) -> (std::thread::Result<R>, O) {
    const BATCH: usize = 4096;
    let (send, batches) = std::sync::mpsc::sync_channel::<Vec<T>>(4);
    std::thread::scope(|scope| {
        let producing = scope.spawn(move || {
            let mut batch = Vec::with_capacity(BATCH);
            // A send fails only once the consumer is done; what is left is
            // then of no use to anyone.
            let produced = produce(&mut |item| {
                batch.push(item);
                if batch.len() == BATCH {
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                    let _ = send.send(full);
                }
            });
            if !batch.is_empty() {
                let _ = send.send(batch);
            }
            produced
        });
        let mut items = batches.into_iter().flatten();
        let consumed = consume(&mut items);
        drop(items);
        (producing.join(), consumed)
    })
}
