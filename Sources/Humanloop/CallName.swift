/// The C ABI's call names of the four endpoints (hl_call_start's `name`).
enum CallName: String, Sendable {
    case complete = "complete"
    case completeDeployed = "complete_deployed"
    case completeExperiment = "complete_experiment"
    case completeModelConfiguration = "complete_model_configuration"
}
