import Asicrc.Sum
import Asicrc.Predict
import Asicrc.Cost
import Asicrc.Puf
import Asicrc.Examples
